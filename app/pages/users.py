"""Users: one user's history and the top-K of two models side by side, with what changed.

Recommendations come from ``mambarec.recommend`` (scores from the restored models' embeddings,
training items excluded, ranked like the evaluator); the page only draws them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import models, state
from mambarec.recommend import (
    compare_topk,
    item_card,
    recommend,
    user_history,
)

NO_RUNS = ("No saved run on this dataset yet, so there is nothing trained to compare. Train one on the **Train** "
           "page, or run `python -m mambarec precompute` for the precomputed checkpoints. Shown meanwhile: the "
           "user's history and the top-K of an untrained paper model (its seeded initialization).")
UNTRAINED = "untrained paper model"
POSTERS_SHOWN = 10
MOVE_HELP = "rank change against the other model (↑ = higher here; new = not in its top-K)"


# ---- cached library calls -----------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=256)
def top_k(key: str, user: int, k: int, _model, _dataset) -> tuple[list[int], list[float]]:
    rec = recommend(_model, _dataset, user, k)
    return rec.items.tolist(), rec.scores.tolist()


# ---- sections -----------------------------------------------------------------------------------
def choose_models(dataset) -> list[tuple[str, str, object]]:
    """[(label, cache key, model)] for models A and B (one when there is no saved run)."""
    fp = dataset.fingerprint()
    runs = models.sources(fp, models.signature(), dataset)
    if not runs:
        st.info(NO_RUNS)
        return [(UNTRAINED, f"untrained|{fp}", models.untrained("paper", fp, dataset))]
    options = [*range(len(runs)), UNTRAINED]
    label = {i: s["label"] for i, s in enumerate(runs)} | {UNTRAINED: UNTRAINED}
    active = state.active_run()
    first = next((i for i, s in enumerate(runs) if active and str(s["path"]).startswith(str(active))), 0)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Model A", options, index=first, format_func=label.get)
    b = c2.selectbox("Model B", options, index=1 if len(runs) > 1 and first != 1 else (
        0 if first != 0 else len(options) - 1), format_func=label.get)
    out = []
    for pick in (a, b):
        if pick == UNTRAINED:
            out.append((UNTRAINED, f"untrained|{fp}", models.untrained("paper", fp, dataset)))
        else:
            src, mtime = runs[pick], models.mtime(runs[pick]["path"])
            out.append((src["label"], f"{src['path']}|{mtime}", models.model(str(src["path"]), mtime, fp, dataset)))
    return out


def items_table(dataset, items, popularity, extra: dict[str, list] | None = None) -> pd.DataFrame:
    cards = [item_card(dataset, i, popularity) for i in items]
    table = pd.DataFrame({"item": [c.item for c in cards], "title": [c.title for c in cards],
                          "category": [c.category for c in cards], "popularity": [c.popularity for c in cards]})
    for name, values in (extra or {}).items():
        table.insert(len(table.columns) if name != "rank" else 0, name, values)
    return table


def _short(title: str, n: int = 16) -> str:
    return title if len(title) <= n else title[: n - 1] + "…"


def posters(dataset, items, captions: list[str] | None = None) -> None:
    """A strip of posters for the first ``POSTERS_SHOWN`` items that have one."""
    cards = [item_card(dataset, i) for i in items]
    shown = [(c, cap) for c, cap in zip(cards, captions or [c.title for c in cards], strict=True)
             if c.poster is not None][:POSTERS_SHOWN]
    if shown:
        st.image([str(c.poster) for c, _ in shown], caption=[cap for _, cap in shown], width=72)


def history(dataset, user: int, popularity) -> dict:
    hist = user_history(dataset, user)
    held = {int(i): split for split in ("valid", "test") for i in hist[split]}
    st.subheader(f"User {user}: {len(hist['train'])} training items, "
                 f"{len(hist['valid'])} valid and {len(hist['test'])} test items held out")
    with st.expander("History (training items: masked when ranking)", expanded=dataset.image_dir is not None):
        posters(dataset, hist["train"], [_short(item_card(dataset, i).title) for i in hist["train"]])
        st.dataframe(items_table(dataset, hist["train"], popularity), hide_index=True, height=220)
    with st.expander(f"Held-out items ({len(held)}): what a good top-K finds"):
        st.dataframe(items_table(dataset, list(held), popularity, {"split": list(held.values())}), hide_index=True,
                     height=220)
    return held


def ranking(dataset, label: str, items: list[int], scores: list[float], held: dict, moves: list[str],
            popularity) -> None:
    st.markdown(f"**{label}** · {sum(i in held for i in items)} of {len(held)} held-out items in the top {len(items)}")
    posters(dataset, items, [f"{r}. {_short(item_card(dataset, i).title)}" for r, i in enumerate(items, start=1)])
    table = items_table(dataset, items, popularity, {
        "rank": list(range(1, len(items) + 1)), "score": scores,
        "held out": [held.get(i, "") for i in items], "vs other": moves})
    st.dataframe(table, hide_index=True, column_order=("rank", "vs other", "title", "score", "held out", "category"),
                 column_config={"rank": st.column_config.NumberColumn(width="small"),
                                "title": st.column_config.TextColumn(width="medium"),
                                "category": st.column_config.TextColumn(width="small"),
                                "score": st.column_config.NumberColumn(format="%.4f", width="small"),
                                "held out": st.column_config.TextColumn(width="small"),
                                "vs other": st.column_config.TextColumn(help=MOVE_HELP, width="small")})


def moves_for(own: list[int], other: list[int]) -> list[str]:
    """Per item of ``own``: 'new' if absent from ``other``, else its rank change (↑ = better here)."""
    rank_other = {item: r for r, item in enumerate(other, start=1)}
    out = []
    for r, item in enumerate(own, start=1):
        if item not in rank_other:
            out.append("new")
        else:
            d = rank_other[item] - r
            out.append("=" if d == 0 else (f"↑{d}" if d > 0 else f"↓{-d}"))
    return out


def changes(dataset, a: list[int], b: list[int], popularity) -> None:
    diff = compare_topk(a, b)
    st.subheader("What changed from A to B")
    m1, m2, m3 = st.columns(3)
    m1.metric(f"overlap ({diff.overlap:.0%})", f"{len(diff.moves)} of {max(len(a), len(b))}")
    m2.metric("entering B", len(diff.entering))
    m3.metric("leaving A", len(diff.leaving))
    c1, c2 = st.columns(2)
    title = lambda i: item_card(dataset, i, popularity).title  # noqa: E731
    c1.markdown("**Entering** (in B, not in A): " + (", ".join(title(i) for i in diff.entering) or "none"))
    c2.markdown("**Leaving** (in A, not in B): " + (", ".join(title(i) for i in diff.leaving) or "none"))
    if diff.moves:
        st.dataframe(pd.DataFrame([{"title": title(i), "rank in A": ra, "rank in B": rb,
                                    "move in B": "=" if ra == rb else (f"↑{ra - rb}" if ra > rb else f"↓{rb - ra}")}
                                   for i, ra, rb in diff.moves]), hide_index=True)


def render() -> None:
    st.title("Users")
    st.caption("One user's history and the top-K of two models side by side. Scores are the dot products of the "
               "restored model's final embeddings; the user's training items are excluded, ties go to the lower id "
               "(exactly as the evaluator ranks).")
    dataset = state.get_dataset(state.active_dataset_name())
    try:
        models = choose_models(dataset)
    except (ValueError, RuntimeError) as exc:  # CheckpointError (unreadable, other data), no CUDA
        st.error(str(exc))
        return
    c1, c2 = st.columns([1, 2])
    user = int(c1.number_input(f"User (0 to {dataset.n_users - 1})", 0, dataset.n_users - 1, 0))
    k = c2.slider("K", 5, 50, 10, 5)
    popularity = dataset.item_popularity()
    held = history(dataset, user, popularity)
    lists = [top_k(key, user, k, m, dataset) for _, key, m in models]
    cols = st.columns(len(models))
    for j, (col, (label, _, _), (items, scores)) in enumerate(zip(cols, models, lists, strict=True)):
        other = lists[1 - j][0] if len(lists) == 2 else items
        with col:
            ranking(dataset, f"{'AB'[j]}: {label}", items, scores, held, moves_for(items, other), popularity)
    if len(lists) == 2:
        changes(dataset, lists[0][0], lists[1][0], popularity)


render()
