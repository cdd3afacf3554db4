"""Users: one user's history and the top-K of two models side by side, with what changed.

Recommendations come from ``mambarec.recommend`` (scores from the restored models' embeddings,
training items excluded, ranked like the evaluator); the page only draws them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import lessonbar, models, state, urlsel
from app.urlsel import Param
from mambarec.recommend import (
    compare_topk,
    item_card,
    most_changed_user,
    recommend,
    user_history,
)

PAGE = "users"
UNTRAINED = "untrained-paper"
PARAMS = (Param("a", ""), Param("b", ""), Param("user", 0, int), Param("k", 10, int))
NO_RUNS = ("No saved run on this dataset yet, so there is nothing trained to compare. {how} Shown meanwhile: the "
           "user's history and the top-K of an untrained paper model (its seeded initialization).")
POSTERS_SHOWN = 10
MOVE_HELP = "rank change against the other model (↑ = higher here; new = not in its top-K)"


def key(name: str) -> str:
    return urlsel.widget_key(PAGE, name)


# ---- cached library calls -----------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=256)
def top_k(key: str, user: int, k: int, _model, _dataset) -> tuple[list[int], list[float]]:
    rec = recommend(_model, _dataset, user, k)
    return rec.items.tolist(), rec.scores.tolist()


@st.cache_data(show_spinner=False, max_entries=64)
def most_changed(key_a: str, key_b: str, k: int, _a, _b, _dataset) -> tuple[int, float]:
    return most_changed_user(_a, _b, _dataset, k)


# ---- sections -----------------------------------------------------------------------------------
def choose_models(dataset) -> list[tuple[str, str, object]]:
    """[(label, cache key, model)] for models A and B (one when there is no run at all); precomputed cells are
    taken at their first seed."""
    fp = dataset.fingerprint()
    runs = models.sources(fp, models.signature(), dataset)
    keys = [*models.keys_of(runs), UNTRAINED]
    ss = st.session_state
    for note in urlsel.restore(PAGE, PARAMS, {"a": keys, "b": keys, "user": range(dataset.n_users),
                                              "k": range(5, 51, 5)}):
        st.caption(f":material/info: {note}")
    if not runs:
        st.info(NO_RUNS.format(how=models.train_hint(dataset.name)))
        return [(UNTRAINED.replace("-", " ") + " model", f"untrained|{fp}", models.untrained("paper", fp, dataset))]
    label = lambda k: "untrained paper model" if k == UNTRAINED else models.key_label(runs, k)  # noqa: E731
    # A's default is not the B a link named: `a=nope&b=paper` compared paper with itself (rehearsal r70)
    models.keep_pick(key("a"), keys, lambda: next(
        k for k in (models.default_pick(runs, keys), *keys) if k != ss.get(key("b"))), runs, label)
    models.keep_pick(key("b"), keys, lambda: next(
        (k for k in ("no_alignment", "mgcn", *keys) if k in keys and k != ss[key("a")]), keys[-1]), runs, label)
    c1, c2 = st.columns(2)
    picks = (c1.selectbox("Model A", keys, format_func=label, **urlsel.bound(PAGE, "a", keys)),
             c2.selectbox("Model B", keys, format_func=label, **urlsel.bound(PAGE, "b", keys)))
    out = []
    for pick in picks:
        if pick == UNTRAINED:
            out.append(("untrained paper model", f"untrained|{fp}", models.untrained("paper", fp, dataset)))
        else:
            src = models.pick(runs, pick)
            out.append((label(pick), f"{src['path']}|{models.mtime(src['path'])}", models.load(src, dataset)))
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


def ranking(dataset, label: str, items: list[int], scores: list[float], held: dict, moves: list[str] | None,
            popularity) -> None:
    """One model's top-K; ``moves``: each item's rank change against the other model (None: there is no other, and
    the column, all "=" against itself, is left out)."""
    st.markdown(f"**{label}** · {sum(i in held for i in items)} of {len(held)} held-out items in the top {len(items)}")
    posters(dataset, items, [f"{r}. {_short(item_card(dataset, i).title)}" for r, i in enumerate(items, start=1)])
    table = items_table(dataset, items, popularity, {
        "rank": list(range(1, len(items) + 1)), "score": scores, "held out": [held.get(i, "") for i in items],
        **({"vs other": moves} if moves is not None else {})})
    # widths that fit half of the page at 1280 x 800 (categories are in the history above)
    order = ("rank", "vs other", "title", "score", "held out") if moves is not None else ("rank", "title", "score",
                                                                                         "held out")
    st.dataframe(table, hide_index=True, column_order=order,
                 column_config={"rank": st.column_config.NumberColumn(width=46),
                                "title": st.column_config.TextColumn(width=160),
                                "score": st.column_config.NumberColumn(format="%.4f", width=66),
                                "held out": st.column_config.TextColumn(width=60),
                                "vs other": st.column_config.TextColumn(help=MOVE_HELP, width=60)})


def moves(items: list[int], diff, side: str) -> list[str]:
    """Per item of list A (``side="a"``) or B: 'new' when the other list lacks it, else its rank change there
    (↑ = higher in this list), read from ``compare_topk``'s result."""
    ranks = {item: (ra, rb) for item, ra, rb in diff.moves}
    out = []
    for item in items:
        if item not in ranks:
            out.append("new")
            continue
        mine, other = ranks[item] if side == "a" else ranks[item][::-1]
        d = other - mine
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
    step = lessonbar.show(PAGE)
    st.caption("One user's history and the top-K of two models side by side. Scores are the dot products of the "
               "restored model's final embeddings; the user's training items are excluded, ties go to the lower id "
               "(exactly as the evaluator ranks).")
    dataset = models.dataset_or_error(state.active_dataset_name())
    if dataset is None:
        return
    try:
        chosen = choose_models(dataset)
    except (ValueError, RuntimeError) as exc:  # CheckpointError (unreadable, other data), no CUDA
        st.error(str(exc))
        return
    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    k = c2.slider("K", 5, 50, step=5, key=key("k"))
    changed = most_changed(chosen[0][1], chosen[-1][1], k, chosen[0][2], chosen[-1][2], dataset) \
        if len(chosen) == 2 else None
    if changed is not None:
        c3.button(f"Most changed user: {changed[0]}", on_click=st.session_state.__setitem__,
                  args=(key("user"), changed[0]), disabled=st.session_state.get(key("user")) == changed[0],
                  help=f"the user whose top {k} changes most from A to B: {changed[1]:.0%} of A's list is in B's")
    user = int(c1.number_input(f"User (0 to {dataset.n_users - 1})", 0, dataset.n_users - 1, key=key("user")))
    popularity = dataset.item_popularity()
    held = history(dataset, user, popularity)
    lists = [top_k(ident, user, k, m, dataset) for _, ident, m in chosen]
    diff = compare_topk(lists[0][0], lists[-1][0]) if len(lists) == 2 else None
    cols = st.columns(len(chosen))
    for j, (col, (label, _, _), (items, scores)) in enumerate(zip(cols, chosen, lists, strict=True)):
        with col:
            ranking(dataset, f"{'AB'[j]}: {label}", items, scores, held,
                    moves(items, diff, "ab"[j]) if diff is not None else None, popularity)
    if len(lists) == 2:
        if diff.overlap == 1 and changed is not None and changed[0] != user:
            st.info(f"A and B give user {user} the same top {k}. User {changed[0]}'s list changes most "
                    f"({changed[1]:.0%} of A's top {k} is in B's): the button \"Most changed user\" shows it.")
        changes(dataset, lists[0][0], lists[1][0], popularity)
    urlsel.publish(PAGE, PARAMS, step)


render()
