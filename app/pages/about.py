"""About: the model in one picture and three short ideas, where the released code departs from the paper,
and the active dataset's card, with the world's truth for scenario data (cold share, how much of the
true item factors each modality holds, the gap between them)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import diagram, errors, lessonbar, paper_numbers, state, urlsel
from app.urlsel import Param
from mambarec.data import DatasetError
from mambarec.data.coldstart import measured_cold_items
from mambarec.data.scenarios import SCENARIOS, scenario_summary
from mambarec.data.synthetic import K_CORE
from mambarec.groundtruth import modality_gap_stats, modality_informativeness, world_cold_items

PAGE = "about"
SECTIONS = {"model": "The model in one picture", "paper-vs-code": "Where the released code departs from the paper",
            "dataset": "This dataset"}
PARAMS = (Param("show", "model"),)
IDEAS = (
    ("1 · Shrink the visual feature", "A linear map W_V takes D_V to **D_V / r** (r = 8: {here}4096 → 512 on "
     "the paper's Amazon data) before DREAM. The paper: r = 8 saves 30%+ of the parameters and 25% of the time "
     "for −0.3% Recall@20."),
    ("2 · DREAM: look at several scales", "The reduced feature becomes a small C x H x W map. Five branches (1x1 "
     "conv, three dilated 3x3 convs, a global pool) see it at several scales; channel attention **M_c** and "
     "spatial attention **M_s** weigh what they see."),
    ("3 · Align the two modalities", "Per batch, **MMD** pulls the whole cloud of visual features towards the "
     "cloud of text features (bandwidth σ) and **InfoNCE** pulls each item's picture towards its own text "
     "(temperature τ)."),
)


@st.cache_data(max_entries=8, show_spinner="Measuring what each modality knows (a cross-validated probe)...")
def world_truth(name: str, fingerprint: str) -> dict:
    """Ground truth of a generated dataset: knobs, cold share, per-modality informativeness and the gap."""
    ds = state.get_dataset(name)
    extras = ds.extras or {}
    cold = world_cold_items(ds)
    cold = measured_cold_items(ds.train, ds.n_items) if cold is None else cold
    probe = modality_informativeness(ds)
    return {"scenario": extras.get("scenario"), "knobs": extras.get("knobs", {}), "cold": float(cold.mean()),
            "n_cold": int(cold.sum()), "r2": {m: p.cv_r2 for m, p in probe.items()},
            "signal": {m: extras.get(f"{m}_signal_share") for m in ("visual", "text")},
            "gap": modality_gap_stats(ds.visual, ds.text)}


def the_model() -> None:
    st.markdown("**Modality Alignment with Multi-scale Bilateral Attention for Multimodal Recommendation** (Ren, "
                "Ju, Lee; CIKM 2025). Released code `rkl71/MambaRec`, built on MMRec's MGCN.")
    paper = state.default_run()  # the paper's setup
    diagram.draw(paper, clickable=False)  # the Train page's picture of it
    try:
        d_v, r = int(state.get_dataset(state.active_dataset_name()).visual.shape[1]), paper.model.reduction_factor
        here = f"{d_v} → {d_v // r} on this dataset, "
    except DatasetError:  # a dataset that does not load: its card below says why
        here = ""
    for col, (title, text) in zip(st.columns(3), IDEAS, strict=True):
        col.markdown(f"**{title}**  \n{text.format(here=here)}")
    st.caption("Training: BPR + L2 + λ_mmd L_mmd + λ_cl L_cl, Adam, early stopping on valid Recall@20. "
               "Evaluation: full ranking over all items, training items masked, Recall/NDCG@10 and @20.")


def paper_vs_code() -> None:
    # a static table: its cells wrap, so at 1280 x 800 no sentence is cut off (a data grid clips long cells)
    st.table(pd.DataFrame(paper_numbers.PAPER_VS_CODE, columns=["point", "paper", "released code"]), hide_index=True)
    st.caption("The Train page's **Starting preset** picks a column: `paper` (the paper's) builds what the paper "
               "describes, `official` (released code) what the released code computes; MGCN, the backbone both "
               "build on, is a model of its own (the MGCN preset). Every switch can be mixed (docs/departures.md).")


def dropped_note(knobs: dict, users: int, items: int) -> str | None:
    """Where a generated world's users and items went: the knobs say how many were drawn, the card how many
    are left after the k-core filter (``mambarec.data.synthetic.K_CORE``); None when nothing was dropped."""
    gone = [(kept, knobs[f"n_{what}"], what) for kept, what in ((users, "users"), (items, "items"))
            if knobs.get(f"n_{what}", kept) != kept]
    if not gone:
        return None
    kept = " and ".join(f"{k:,} of the {n:,} generated {what}" for k, n, what in gone)
    other = " and ".join(f"{n - k:,} {what if n - k != 1 else what[:-1]}" for k, n, what in gone)
    return (f"{kept} are kept; the other {other} fell to MMRec's {K_CORE}-core filter, which repeatedly drops "
            f"users and items with fewer than {K_CORE} interactions.")


def dataset_card(name: str) -> None:
    try:
        card = state.dataset_card(name)
    except Exception as exc:  # noqa: BLE001  (shown, not raised)
        st.error(f"Cannot load {name!r}: {errors.said(exc)}. Pick another dataset in the sidebar.")
        return
    st.subheader(f"Dataset card: {name}")
    cols = st.columns(4)
    for col, (label, value) in zip(cols, (("Users", f"{card['users']:,}"), ("Items", f"{card['items']:,}"),
                                          ("Interactions", f"{card['interactions']:,}"),
                                          ("Density", f"{card['density']:.3%}")), strict=True):
        col.metric(label, value)
    extras = state.get_dataset(name).extras or {}
    if note := dropped_note(extras.get("knobs", {}), card["users"], card["items"]):
        st.caption(note)
    st.caption(f"Split (MMRec's rule): train {card['train']:,} · valid {card['valid']:,} · test {card['test']:,}. "
               f"Visual {card['visual_dim']}-d, text {card['text_dim']}-d. Source `{card['source'] or card['name']}`, "
               f"fingerprint `{card['fingerprint']}`.")
    paper = paper_numbers.paper_dataset(name)
    if paper:
        s = paper_numbers.DATASET_STATS[paper]
        st.caption(f"The paper's {paper.capitalize()}: {s['users']:,} users, {s['items']:,} items, "
                   f"{s['interactions']:,} interactions, density {s['density']:.3%}.")
    if "item_factors" in extras:
        truth(name, card["fingerprint"])


def truth(name: str, fingerprint: str) -> None:
    """The generated world's truth: what a model could learn here, measured on the data themselves."""
    t = world_truth(name, fingerprint)
    st.markdown("**The world's truth** (generated data, so the true item factors are known)")
    if t["scenario"] in SCENARIOS:
        st.caption(f"Scenario `{t['scenario']}`: {scenario_summary(t['scenario'])}")
    cols = st.columns(4)
    cols[0].metric("Cold items", f"{t['cold']:.0%}", help="the items this world made cold, each with at most 2 "
                   f"training interactions: only their content can rank them ({t['n_cold']} items; the Compare "
                   "page's cold-vs-warm bars measure these)")
    for col, m in zip(cols[1:3], ("visual", "text"), strict=True):
        col.metric(f"{m.capitalize()} knows", f"R² {t['r2'][m]:.2f}", help=f"5-fold cross-validated ridge R² of the "
                   f"true item factors from the raw {m} features (1: all of it, 0: nothing)")
    cols[3].metric("Gap: visual / text spread", f"{t['gap']['scale_ratio']:.1f}×",
                   help=f"std(visual) / std(text); mean shift {t['gap']['mean_shift']:+.2f}. MMD is motivated by a "
                   "gap like this")
    knobs = t["knobs"]
    if knobs:
        st.caption("Knobs: " + " · ".join(f"{k} = {v}" for k, v in knobs.items() if k != "seed"))


THIS_APP = (
    "**This app** reimplements MambaRec in PyTorch (the `mambarec` package) and opens it up. Start with **Lessons**: "
    "guided stories over precomputed runs, nothing trains. **Train & ablate** switches each part of the model on or "
    "off and trains it live; **Compare runs** reads every run and seed, with intervals; **Embeddings**, **DREAM "
    "inspector** and **Users** look inside one run. In the repository: README.md (how to run everything), "
    "precomputed/REPORT.md (the grid's numbers and verdicts), docs/model.md (the model and its symbols), "
    "docs/protocol.md (how runs are trained and scored) and docs/departures.md (the paper against the released code)."
)


def render() -> None:
    st.title("About MambaRec")
    step = lessonbar.show(PAGE)
    if not step:  # a lesson step's note says what to look at; the page's own introduction would push it down
        st.markdown(THIS_APP)
    for note in urlsel.restore(PAGE, PARAMS, {"show": SECTIONS}):
        st.caption(f":material/info: {note}")
    first = st.session_state[urlsel.widget_key(PAGE, "show")]
    draw = {"model": the_model, "paper-vs-code": paper_vs_code,
            "dataset": lambda: dataset_card(state.active_dataset_name())}
    if first != "dataset":  # the card heads itself
        st.subheader(SECTIONS[first])
    draw[first]()
    for name, title in SECTIONS.items():  # the section a link asked for first, the others folded below it
        if name != first:
            with st.expander(title):
                draw[name]()
    urlsel.publish(PAGE, PARAMS, step)


render()
