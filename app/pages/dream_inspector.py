"""DREAM inspector: one item's branch outputs, attention maps and receptive fields
(docs/model.md section 3, docs/departures.md section 2).

Everything drawn comes from ``mambarec.inspect_dream``: ``inspect_item`` for the maps and
``centre_tap_equivalence`` for the released code's 1x1-map finding. Without a saved run the page
builds an untrained model of the chosen variant on the active dataset, so it always shows something.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import dream_figures, lessonbar, models, presentation, results, state, urlsel
from app.urlsel import Param
from mambarec import findings
from mambarec.grid import DEFAULT_BUDGET
from mambarec.inspect_dream import centre_tap_equivalence, dream_modules, inspect_item

PAGE = "dream"
PARAMS = (Param("model", ""), Param("seed", 0, int), Param("item", None, int), Param("modality", "visual"))
NO_RUNS = ("No saved run with DREAM on this dataset yet: showing an **untrained** model (its weights are the "
           "seeded initialization). {how}")
UNTRAINED = {"untrained-paper": "paper", "untrained-official": "official"}
CENTRE_HELP = "The map position (the red x) whose receptive field each branch panel circles"
DEAD_TAPS = "taps never on the map"
DEAD_TAPS_HELP = ("Taps of the 3x3 kernel that read the zero padding from every output position, so their weights "
                  "(the dead weights) never receive a gradient. The panels above count the taps for one output "
                  "position only, the chosen centre (the red x).")
NUMBER_COLUMNS = ("max |full - centre tap|", "max |full|", "max grad, dead taps", "trained Δ, dead taps",
                  "trained Δ, live taps")


def key(name: str) -> str:
    return urlsel.widget_key(PAGE, name)


# ---- cached library calls -----------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def sources(fingerprint: str, signature: tuple, _dataset) -> list[dict]:
    return [s for s in models.sources(fingerprint, signature, _dataset) if models.has_dream(s["config"])]


@st.cache_data(show_spinner="Comparing each dilated branch with its centre tap...", max_entries=16)
def equivalence(key: str, modality: str, _model, _initial=None):
    return centre_tap_equivalence(_model, modality, initial=_initial)


# ---- choices ------------------------------------------------------------------------------------
def choose_model(dataset):
    """(model, key, label, checkpoint path or None, ``warmup_note`` or None) of the chosen run, or of an untrained
    variant."""
    fp = dataset.fingerprint()
    runs = sources(fp, models.signature(), dataset)
    if not runs:
        st.info(NO_RUNS.format(how=models.train_hint(dataset.name)))
    keys = [*models.keys_of(runs), *UNTRAINED]
    for note in urlsel.restore(PAGE, PARAMS, {"model": keys, "modality": ("visual", "text"),
                                              "item": range(dataset.n_items)}):
        st.caption(f":material/info: {note}")
    why_not = "it has no DREAM blocks to inspect (trained with DREAM off, or not MambaRec)"
    label = lambda k: (f"{k.replace('-', ' ')} (no run needed)" if k in UNTRAINED  # noqa: E731
                       else models.key_label(runs, k, with_seed=False))
    models.keep_pick(key("model"), keys, lambda: models.default_pick(runs, keys, why_not), runs, label)
    c1, c2 = st.columns([4, 1])
    pick = c1.selectbox("Model", keys, **urlsel.bound(PAGE, "model", keys), format_func=label)
    if pick in UNTRAINED:
        return models.untrained(UNTRAINED[pick], fp, dataset), f"untrained|{pick}|{fp}", pick, None, None
    seeds = models.seeds_of(runs, pick)
    if note := urlsel.available(PAGE, "seed", seeds, "this setup"):
        st.caption(f":material/info: {note}")
    seed = c2.selectbox("Seed", seeds, **urlsel.bound(PAGE, "seed", seeds), disabled=len(seeds) < 2,
                        help="The seeds with a checkpoint of this setup" + (
                            " (one is shipped or saved here: train another seed to compare)" if len(seeds) < 2
                            else ""))
    src = models.pick(runs, pick, seed)
    mtime = models.mtime(src["path"])
    return (models.load(src, dataset), f"run|{src['path']}|{mtime}", src["label"], str(src["path"]),
            warmup_note(dataset, src))


def warmup_note(dataset, src: dict) -> str | None:
    """A precomputed seed that early stopping ended in its warm-up (``findings.stopped_in_warmup``: a dip after an
    early peak, while a sister seed learned for much longer), said: its weights are those of a barely trained model,
    which the page's attention weights would otherwise pass off as what DREAM learns."""
    if src["kind"] != "precomputed":
        return None
    rows, _ = results.precomputed_table(dataset.name)
    mine = rows[rows["cell"] == src["cell"]] if not rows.empty else rows
    if mine.empty:
        return None
    found = findings.stopped_in_warmup(findings.cells_of(mine.to_dict("records"), dataset.name),
                                       DEFAULT_BUDGET.patience)
    if src["seed"] not in found.get(src["cell"], []):
        return None
    me = mine[mine["seed"] == src["seed"]].iloc[0]
    late = mine.loc[mine["best_epoch"].idxmax()]
    return (f"Seed {src['seed']} of {src['cell']} peaked at epoch {int(me['best_epoch'])}, in its warm-up, and early "
            f"stopping ended it in the dip after that peak (epoch {int(me['epochs_run'])}); seed {int(late['seed'])} "
            f"of the same setup learned until epoch {int(late['best_epoch'])}. These are a barely trained model's "
            "weights: the maps' shapes and where the kernels read hold for any weights, the attention values do not.")


def choose_view(dataset, model) -> tuple[str, int, tuple[int, int] | None, int]:
    dreams = dream_modules(model)
    ss = st.session_state
    if ss[key("modality")] not in dreams:
        ss[key("modality")] = next(iter(dreams))
    if ss[key("item")] is None:
        ss[key("item")] = int(np.argmax(dataset.item_popularity()))
    # one row of controls (the centre's row and column side by side): at 1280 x 800 the maps start above the fold
    c1, c2, c3, c4, c5 = st.columns([1, 2.4, 1, 1, 1.4])
    modality = c1.selectbox("Modality", list(dreams), **urlsel.bound(PAGE, "modality", dreams))
    titles = dataset.titles()
    item = c2.selectbox("Item", range(dataset.n_items), **urlsel.bound(PAGE, "item", range(dataset.n_items)),
                        format_func=lambda i: f"{i} · {titles[i]}",
                        help="Default: the most popular item; type to search by title")
    c, h, w = dreams[modality].shape
    centre = None
    if h * w > 1:
        row = c3.slider("Centre row", 0, h - 1, h // 2, help=CENTRE_HELP)
        col = c4.slider("Centre column", 0, w - 1, w // 2, help=CENTRE_HELP)
        centre = (row, col)
    else:
        c3.caption(f"{c} x 1 x 1: one position, the centre")
    channel = dream_figures.MEAN
    if c > 1 and h * w > 1:
        channel = c5.selectbox("Channel shown", [dream_figures.MEAN, *range(c)],
                               format_func=lambda k: "mean of all" if k == dream_figures.MEAN else f"channel {k}")
    return modality, int(item), centre, channel


# a channel gate of 0 read as "the gate is closed": the two gates meet in a maximum (docs/departures.md, D6)
CLOSED_GATE = (" Here the ReLU cut it to 0, yet the item is not shut out: DREAM weighs each position by the larger "
               "of M_c and M_s, so spatial attention alone carries this item.")


def attention(ins) -> None:
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Channel attention M_c**")
        m_c = ins.channel_attention
        if m_c is None:
            st.caption("switched off (replaced by ones)")
        elif m_c.size == 1:
            value = float(m_c.reshape(-1)[0])
            st.metric("one scalar for the whole item", f"{value:.4f}")
            st.caption("Released code: GAP -> 1x1 conv (5C -> 1) -> ReLU, so every channel gets the same weight."
                       + (CLOSED_GATE if value == 0 else ""))
        else:
            presentation.chart(st, dream_figures.attention_map(m_c, [ins.labels[n] for n in ins.branches]),
                               key="dream_channel_attention")
    with c2:
        st.markdown("**Spatial attention M_s**")
        m_s = ins.spatial_attention
        if m_s is None:
            st.caption("switched off (replaced by ones)")
        elif m_s.size == 1:
            st.metric("one position", f"{float(m_s.reshape(-1)[0]):.4f}")
            st.caption("A 1 x 1 map has one position: the 'spatial' gate is again one scalar per item.")
        else:
            presentation.chart(st, dream_figures.attention_map(m_s), key="dream_spatial_attention")
    with c3:
        st.markdown("**DREAM output** (mean over channels)")
        presentation.chart(st, dream_figures.dream_output(ins.output), key="dream_output")


# ---- the 1 x 1 finding ----------------------------------------------------------------------------
def equivalence_table(eq) -> pd.DataFrame:
    table = pd.DataFrame([{
        "branch": f"3x3, dilation {b.dilation}", "max |full - centre tap|": b.max_abs_diff,
        "max |full|": b.max_abs_output, DEAD_TAPS: f"{b.dead_taps} of 9", "dead weights": b.dead_params,
        "max grad, dead taps": b.max_dead_grad, "trained Δ, dead taps": b.dead_drift,
        "trained Δ, live taps": b.live_drift} for b in eq.branches])
    return table.dropna(axis=1, how="all")  # the gradient and drift columns only apply to some models


def centre_note(ins, eq) -> str | None:
    """The panels' count at the chosen centre beside the table's count over every position, for the branches where
    they differ: on a 4 x 4 map a dilation-3 kernel centred at (2, 2) reads 8 of its 9 taps from the padding, yet
    none of its taps misses the map from every position, and a table's 0 under the panels' 8 read as a contradiction.
    None when ``eq`` is of maps of another shape (the released-code layout shown for contrast) or nothing differs."""
    if tuple(eq.shape) != tuple(ins.shape):
        return None
    fields = [(ins.labels[b.branch], ins.receptive_fields[b.branch], b.dead_taps) for b in eq.branches
              if b.branch in ins.receptive_fields]
    differ = [(name, rf, dead) for name, rf, dead in fields if rf.outside != dead]
    if not differ:
        return None
    row, col = fields[0][1].centre
    counts = "; ".join(f"{name}: {len(rf.positions)} of 9 on the map there, {rf.outside} in the padding, "
                       f"{dead} of 9 {DEAD_TAPS}" for name, rf, dead in differ)
    return (f"The panels above count the taps for the output at the chosen centre (row {row}, column {col}); "
            f"'{DEAD_TAPS}' counts the taps that read the padding from every output position. {counts}. A tap in "
            "the padding at this centre reads the map from other positions, so its weights still receive a "
            "gradient.")


def explain(dataset, ident: str, model, modality: str, checkpoint: str | None, label: str, ins) -> None:
    st.header("Why the released code's dilated branches are 1x1 convolutions")
    _, h, w = ins.shape
    # the panels above show the model picked: on a wider map (a 2,048-d world's 4 x 8 x 8) they contradicted this
    panels = "(the panels above)" if h <= 4 and w <= 4 else f"(on this model's {h} x {w} map, more of them land on it)"
    st.markdown(
        "The paper describes DREAM on a C x H x W feature map, where a 3x3 kernel at dilation 6, 12 or 18 reads 9 "
        "positions spread over the map. This project's `paper` model keeps a map but uses dilations 1, 2 and 3, "
        "because its maps are small (docs/departures.md, D2: at 12 or 18 every tap but the centre would leave the "
        f"map); even so, on a 4 x 4 map (the default setup's) a dilation-3 kernel reads most of its taps from the "
        f"padding {panels}. The released code instead feeds each item's 64-d vector as a **64 x 1 x 1** "
        "map. With padding = dilation, the output's only position reads its centre tap from the "
        "map and its 8 other taps from the zero padding (the red crosses above, for an official model). So every "
        "dilated branch computes exactly a 1x1 conv with the kernel's centre weights, and the 8 x 64 x 64 "
        "off-centre weights per branch multiply zeros: they never receive a gradient and keep their initial values.")
    init = (models.initial(checkpoint, models.mtime(checkpoint), dataset.fingerprint(), dataset)
            if checkpoint is not None else None)
    eq = equivalence(ident, modality, model, init)
    shown = [(label, eq)]
    if eq.shape[1] * eq.shape[2] > 1:
        official = models.untrained("official", dataset.fingerprint(), dataset)
        shown.append(("untrained official model, same data (released-code layout)",
                      equivalence(f"untrained|untrained official|{dataset.fingerprint()}", modality, official)))
    for name, result in shown:
        c, h, w = result.shape
        st.subheader(f"{name}: {modality} DREAM on {c} x {h} x {w} maps")
        share = result.n_dead_params / result.n_params if result.n_params else 0.0
        m1, m2, m3 = st.columns([2, 3, 2])  # the middle value ("98,304 of 141,056") is the widest: cut at 1024 px
        m1.metric("every dilated branch == its centre tap", "yes" if result.all_identical else "no")
        # "never updated" read oddly for an untrained model: what is meant is that no gradient can reach them
        m2.metric(f"DREAM parameters no gradient reaches ({share:.1%})",
                  f"{result.n_dead_params:,} of {result.n_params:,}")
        m3.metric("items compared", f"{result.n_inputs:,}")
        st.dataframe(equivalence_table(result), hide_index=True,
                     column_config={DEAD_TAPS: st.column_config.TextColumn(help=DEAD_TAPS_HELP)}
                     | {k: st.column_config.NumberColumn(format="%.3g") for k in NUMBER_COLUMNS}
                     # "32768" beside the metric's "98,304": one way of writing counts on the page (r55)
                     | {"dead weights": st.column_config.NumberColumn(format="localized")})
        if note := centre_note(ins, result):
            st.caption(note)
        st.markdown(result.summary())
        if result.all_identical:
            st.caption("'full': the 3x3 dilated conv with all nine taps and zero padding, as nn.Conv2d computes it. "
                       "The differences are float32 rounding (the two convs sum in another order). 'max grad': the "
                       f"largest gradient a backward pass sends to the {DEAD_TAPS}. docs/departures.md section 2 "
                       "(D3): 98,304 of 141,056 DREAM parameters per modality at C = 64.")
        else:
            st.caption("On a real C x H x W map the off-centre taps read neighbouring positions: the dilated branches "
                       "differ from their centre tap, and no weight is dead.")


def render() -> None:
    st.title("DREAM inspector")
    step = lessonbar.show(PAGE)
    if not step:  # a lesson step's note says what to look at; the maps come first
        st.caption("One item through DREAM: the five branches (conv + BN + ReLU), the channel and spatial attention, "
                   "the output, and where each dilated 3x3 kernel reads from (docs/model.md section 3 and "
                   "docs/departures.md section 2).")
    dataset = models.dataset_or_error(state.active_dataset_name())
    if dataset is None:
        return
    try:
        model, ident, label, checkpoint, warm_up = choose_model(dataset)
    except (ValueError, RuntimeError) as exc:  # CheckpointError (unreadable, other data), no CUDA
        st.error(str(exc))
        return
    if not dream_modules(model):
        st.warning("This model has no DREAM (use_dream is off): pick another run or an untrained variant.")
        return
    modality, item, centre, channel = choose_view(dataset, model)
    ins = inspect_item(model, item, modality, centre)
    c, h, w = ins.shape
    st.markdown(f"**{label}** · {modality} DREAM on **{c} x {h} x {w}** maps · attention style `{ins.style}` · "
                f"item {item}: *{dataset.titles()[item]}*")
    per_row = dream_figures.PHONE_PANELS if presentation.phone() else None  # six panels in a row: ~20 px each
    if h * w > 1:
        presentation.chart(st, dream_figures.spatial_maps(ins, channel, per_row), under_note=bool(step),
                           key="dream_branches")
        st.caption("White circles: the positions each branch reads for the output at the red x (clipped to the map).")
    else:
        presentation.chart(st, dream_figures.channel_maps(ins, narrow=per_row is not None), under_note=bool(step),
                           key="dream_branches")
        st.caption("A 1 x 1 map has no spatial extent: each branch output is one value per channel.")
    st.markdown("**Receptive fields** around the chosen centre, all panels at one scale: grey = the map, green = "
                "taps inside it, red x = taps in the zero padding" + (" (the 1 x 1 map is the single cell under the "
                                                                       "green centre tap)." if h * w == 1 else "."))
    presentation.chart(st, dream_figures.receptive_fields(ins, per_row), key="dream_receptive_fields")
    if warm_up:  # over the attention values it speaks of (above the maps, it pushed dream.2's under the fold)
        st.caption(f":material/warning: {warm_up}")
    attention(ins)
    explain(dataset, ident, model, modality, checkpoint, label, ins)
    urlsel.publish(PAGE, PARAMS, step)


render()
