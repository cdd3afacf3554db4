"""Embeddings: the visual and text item embeddings before and after alignment (docs/model.md section 4).

Each panel is one joint 2-D map of both modalities of one model (``mambarec.analysis``). By default
the ``paper`` run before (freshly initialized) vs after training, drawn by PCA with a line from each
sampled item's picture to its text: lines that shrink are matched pairs moving together. Precomputed
maps are drawn as stored; checkpoints are projected here. Each alignment number comes with one plain
sentence; a title search highlights an item and lists its nearest neighbours in the other modality.
The selection lives in the URL (after, before, seed, view, item), so a lesson step can open it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import embedding_words as words
from app import figures, lessonbar, models, presentation, state, urlsel
from app.embedding_words import EXPLAIN, STAGES, UMAP_READING, UMAP_WAIT, stage_words
from app.urlsel import Param
from mambarec import analysis
from mambarec.grid import GRID
from mambarec.neighbours import cross_modal_neighbours
from mambarec.recommend import item_card, precomputed_for

CELL_LABELS = {c.name: c.label for c in GRID}  # what a precomputed cell is, in words

PAGE = "embeddings"
INITIALIZED = "initialized"
PARAMS = (Param("after", ""), Param("before", INITIALIZED), Param("seed", 0, int), Param("view", "PCA"),
          Param("colour", "modality"), Param("lines", 60, int), Param("item", None, int), Param("stage", "modal"))
NO_RUNS = ("No trained run on this dataset yet, so there is no \"after\". {how} Shown meanwhile: the freshly "
           "initialized paper model, i.e. the modality gap alignment starts from.")
SELECTED = "embeddings_selected_items"
COLOURS = ["modality", "category", "popularity"]
MODAL_MODELS = ("mambarec", "mgcn")  # models with visual and text encoders (mambarec.analysis)


def key(name: str) -> str:
    return urlsel.widget_key(PAGE, name)


# ---- cached library calls -----------------------------------------------------------------------
@st.cache_data(show_spinner="Reading the precomputed maps...", max_entries=4)
def stored_maps(fingerprint: str, folder: tuple, _dataset) -> dict:
    pre = precomputed_for(_dataset, state.precomputed_dir())
    return {} if pre is None else pre["alignment"].get(_dataset.name, {})


@st.cache_data(show_spinner=False, max_entries=32)
def embeddings(model_key: str, stage: str, _model) -> dict[str, np.ndarray]:
    return analysis.modality_embeddings(_model, stage)


@st.cache_data(show_spinner=False, max_entries=32)
def projection(visual: np.ndarray, text: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return analysis.project_joint(visual, text, method=method, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def metrics(visual: np.ndarray, text: np.ndarray) -> dict[str, float]:
    return analysis.alignment_metrics(visual, text)


# ---- sources ------------------------------------------------------------------------------------
def entries(found: list[dict], stored: dict) -> list[str]:
    """Keys to pick from: precomputed cells (stored maps or checkpoints) in the grid's order, then saved runs."""
    cells = {stem.rpartition("_s")[0] for stem in stored} | {s["key"] for s in found if s["kind"] == "precomputed"}
    saved = [s["key"] for s in found if s["kind"] == "run"]
    return sorted(cells, key=models.grid_rank) + saved


def seeds(found: list[dict], stored: dict, entry: str) -> list[int]:
    have = {int(stem.rpartition("_s")[2]) for stem in stored if stem.rpartition("_s")[0] == entry}
    return sorted(have | {s["seed"] for s in found if s["key"] == entry and s["seed"] is not None}) or [0]


def new_panel(name: str, text: str, **fields) -> dict:
    """A panel: its ``name`` ("Before" / "After"), what it shows (``text``), and its Plotly ``title`` from both."""
    return {"name": name, "text": text, "title": f"<b>{name}</b> · {text}", **fields}


TITLE_SETUP_CHARS = 32  # a panel title's room for a saved run's setup at 1280 x 800, beside its seed and state


def title_room(short: str) -> str:
    """A saved run's "setup · seed N" cut to the title's room in its setup, never in its seed."""
    setup, sep, seed = short.rpartition(" · seed ")
    if not sep or len(setup) <= TITLE_SETUP_CHARS:
        return short
    return f"{setup[: TITLE_SETUP_CHARS - 1].rstrip(' ·')}… · seed {seed}"


def plain_title(p: dict) -> str:
    """A panel's title in Markdown (Streamlit's text): **Before** · ..."""
    return f"**{p['name']}** · {p['text']}"


def panel(name: str, entry: str, seed: int, trained: bool, stage: str, ctx: dict) -> dict | None:
    """A panel of ``entry`` (trained, or freshly initialized): its stored map when there is one for the
    modal stage, else computed from its checkpoint; ``vectors`` when a checkpoint is available."""
    dataset, stored, found = ctx["dataset"], ctx["stored"], ctx["found"]
    src = models.pick(found, entry, seed) if not entry.startswith(models.SAVED) else models.pick(found, entry)
    if src is not None and src["kind"] == "precomputed" and src["seed"] != seed:
        seed = src["seed"]  # the cell lacks the requested seed: say which one is drawn, and draw its own map
    # a saved run by what differs and its seed: its whole label (epochs, folder id) pushed "initialized" out of the
    # title at 1280 x 800, so an untrained model read as one that "ran 60 of 60 ep"
    label = f"{entry}, seed {seed}" if src is None or src["kind"] == "precomputed" else title_room(src["short"])
    text = f"{label}, {'trained' if trained else 'initialized'}"
    out = None
    snap = stored.get(f"{entry}_s{seed}")
    if snap is not None and stage == "modal":
        part = snap["after" if trained else "before"]
        out = new_panel(name, text, stage=stage_words("modal", src, entry), metrics=part.get("metrics", {}), xy={})
        for method in ("pca", "umap"):
            if method in part:
                out["xy"][method] = tuple(_scatter(part[method][m], snap["item_id"], dataset.n_items)
                                          for m in ("visual", "text"))
    if src is not None:
        fp, path = dataset.fingerprint(), str(src["path"])

        def load() -> dict | None:
            try:  # CheckpointError (a ValueError) too: a file that no longer loads is a note, not a traceback
                model = (models.model(path, models.mtime(path), fp, dataset) if trained
                         else models.initial(path, models.mtime(path), fp, dataset))
                return embeddings(f"{'run' if trained else 'init'}|{path}|{models.mtime(path)}", stage, model)
            except ValueError as exc:
                st.warning(f"{name}: {exc}")
                return None

        out = out or new_panel(name, text, stage=stage_words(stage, src, entry))
        out["load"] = load
    return out


def vectors(p: dict) -> dict | None:
    """The panel's embeddings, loaded from its checkpoint on first use (stored maps need none to draw)."""
    if "vectors" not in p:
        p["vectors"] = p["load"]() if "load" in p else None
    return p["vectors"]


def _scatter(values, item_ids, n_items: int) -> np.ndarray:
    arr = np.zeros((n_items, 2))
    arr[np.asarray(item_ids)] = np.asarray(values, dtype=float)
    return arr


def choose(dataset, slots: tuple) -> list[dict]:
    """The Before, After and Seed pickers, drawn into ``slots`` (three columns), and the two panels they pick."""
    fp = dataset.fingerprint()
    found = [s for s in models.sources(fp, models.signature(), dataset)
             if s["config"].get("model_name", "mambarec") in MODAL_MODELS]
    stored = stored_maps(fp, (str(state.precomputed_dir()), models.mtime()), dataset)
    keys = entries(found, stored)
    ss = st.session_state
    notes = urlsel.restore(PAGE, PARAMS, {"after": keys, "before": [INITIALIZED, *keys], "view": ("PCA", "UMAP"),
                                          "item": range(dataset.n_items), "lines": range(301), "colour": COLOURS,
                                          "stage": STAGES})
    for note in notes:
        st.caption(f":material/info: {note}")
    if not keys:
        st.info(NO_RUNS.format(how=models.train_hint(dataset.name)))
        model = models.untrained("paper", fp, dataset)
        return [new_panel("Before", "initialized paper model", stage=STAGES["modal"],
                          vectors=embeddings(f"untrained|paper|{fp}", "modal", model))]
    models.keep_pick(key("after"), keys, lambda: models.default_pick(found, keys), found)
    label = lambda k: (models.key_label(found, k, with_seed=False) if models.pick(found, k)  # noqa: E731
                       else f"{k} · {CELL_LABELS[k]}" if k in CELL_LABELS else k)  # a stored map: the cell's words
    c1, c2, c3 = slots
    after = c2.selectbox("After (trained)", keys, format_func=label,
                         **urlsel.bound(PAGE, "after", keys))
    befores = [INITIALIZED, *(k for k in keys if k != after)]
    before = c1.selectbox("Before", befores, **urlsel.bound(PAGE, "before", befores),
                          format_func=lambda k: "the same run, freshly initialized" if k == INITIALIZED
                          else label(k),  # trained, as the panel's title says: ", trained" was cut at 1280 x 800
                          help="The run at initialization, or another trained run (no_alignment: MMD and InfoNCE "
                          "off) as the natural 'before'.")
    options = seeds(found, stored, after)
    if note := urlsel.available(PAGE, "seed", options, "this setup"):
        st.caption(f":material/info: {note}")
    seed = c3.selectbox("Seed", options, **urlsel.bound(PAGE, "seed", options),
                        disabled=len(options) == 1)
    stage = ss.get(key("stage"), "modal")
    ctx = {"dataset": dataset, "stored": stored, "found": found}
    first = (panel("Before", after, seed, False, stage, ctx) if before == INITIALIZED
             else panel("Before", before, seed, True, stage, ctx))
    return [p for p in (first, panel("After", after, seed, True, stage, ctx)) if p]


# ---- drawing ------------------------------------------------------------------------------------
def stored_projection(p: dict, view: str) -> bool:
    """Whether ``coordinates`` draws ``p`` from a stored map (nothing to project here)."""
    xy = p.get("xy") or {}
    return view.lower() in xy or bool(xy and "load" not in p)


def coordinates(p: dict, view: str) -> tuple[str, dict[str, np.ndarray]] | None:
    """(the projection used, {"visual": xy, "text": xy}): a stored map as stored, else projected here; a stored
    PCA stands in for a UMAP that was not stored and cannot be computed (no checkpoint)."""
    method, xy = view.lower(), p.get("xy") or {}
    if stored_projection(p, view):
        used = method if method in xy else "pca"
        return used.upper(), dict(zip(("visual", "text"), xy[used], strict=True))
    emb = vectors(p)
    if emb is None:
        return None
    return view, dict(zip(("visual", "text"), projection(emb["visual"], emb["text"], method, 0), strict=True))


def alignment_table(panels: list[dict], n_items: int) -> None:
    columns = {}
    for p in panels:
        emb = None if p.get("metrics") else vectors(p)
        values = p.get("metrics") or (metrics(emb["visual"], emb["text"]) if emb is not None else {})
        columns[p["name"]] = [values.get(k, float("nan")) for k, *_ in EXPLAIN]
    table = pd.DataFrame({**{c: [f"{v:.3f}" for v in values] for c, values in columns.items()},
                          "what it says": [text for *_, text in EXPLAIN]},
                         index=[f"{name} {better}" for _, name, better, _ in EXPLAIN])
    st.table(table)  # a table wraps its sentences; a dataframe would cut them off
    st.caption(f"Over all {n_items:,} items, unit-length rows; ↑/↓: higher/lower is better; chance level of R@1 is "
               f"{1 / n_items:.4f}. Each panel is its own map: compare shapes and line lengths, not coordinates.")


NEIGHBOURS_K = 5  # texts listed under the maps for a picked item


def item_neighbours(p: dict, item: int):
    """The texts nearest ``item``'s picture in panel ``p``, computed once a run (the map's title reads its rank, the
    list under the maps its neighbours); None without the model's embeddings."""
    key = f"neighbours:{item}"
    if key not in p:
        emb = vectors(p)
        p[key] = (None if emb is None or emb["visual"].shape != emb["text"].shape
                  else cross_modal_neighbours(emb["visual"], emb["text"], item, k=NEIGHBOURS_K))
    return p[key]


def neighbours(panels: list[dict], dataset, item: int) -> None:
    titles = dataset.titles()
    st.markdown(f"**Nearest texts to the picture of _{titles[item]}_** (cosine over all items)")
    cols = st.columns(len(panels))
    for col, p in zip(cols, panels, strict=True):
        res = item_neighbours(p, item)
        if res is None:
            col.caption("Needs the model's embeddings: no checkpoint of this run is here (only redistributable "
                        "data ship checkpoints).")
            continue
        tie = (f"; tied with {res.tied} other texts at that cosine, so its rank among them only follows the item "
               "ids: this model cannot tell these texts apart" if res.tied else "")
        col.caption(f"{p['name']}: its own text ranks **{res.own_rank}** "
                    f"of {dataset.n_items} (cosine {res.own_cosine:.2f}{tie})")
        col.dataframe(pd.DataFrame({"rank": range(1, len(res.items) + 1), "text of": [titles[i] for i in res.items],
                                    "cosine": res.cosines}), hide_index=True,
                      column_config={"cosine": st.column_config.NumberColumn(format="%.3f")})


RANK_TITLE_CHARS = 32  # a map's rank line keeps this much of the item's title


def own_rank_line(p: dict, dataset, item: int) -> str:
    """A map title's third line: where the picked item's own text ranks among the texts nearest its picture (the
    lists under the maps give the neighbours; a projector shows this line without scrolling). Empty without the
    model's embeddings."""
    res = item_neighbours(p, item)
    if res is None:
        return ""
    title = dataset.titles()[item]
    title = title if len(title) <= RANK_TITLE_CHARS else title[:RANK_TITLE_CHARS - 1] + "…"  # one line in a half
    px = round(figures.MAP_RANK_PX * presentation.chart_scale())
    return (f"<br><span style='font-size:{px}px'>{title}: its own text ranks <b>{res.own_rank}</b> of "
            f"{dataset.n_items:,}</span>")


# A lesson note moves the maps down: at 1280 x 800 the alignment steps' 430 px maps ended at 864-889 px (914-944 in
# presentation mode, where ``presentation.chart`` takes a further 50 px off), their key out of the room's sight
MAP_HEIGHT_UNDER_NOTE = 340


def draw(panels: list[dict], dataset, view: str, colour: str, n_lines: int, item: int | None,
         under_note: bool = False) -> None:
    popularity = dataset.item_popularity()
    hover = pd.DataFrame({"item": np.arange(dataset.n_items), "title": dataset.titles(),
                          "category": dataset.categories(), "popularity": popularity})
    # items picked on another (larger) dataset are no items of this one
    st.session_state[SELECTED] = [i for i in st.session_state.get(SELECTED, []) if 0 <= i < dataset.n_items]
    if not panels:
        st.info(f"Nothing to draw for this stage: {dataset.name} has stored maps of the modal stage only, and no "
                f"checkpoint here to compute another stage from. Pick the stage 'modal' (the tune button). "
                f"{models.train_hint(dataset.name)}")
        return
    line_items = np.random.default_rng(0).choice(dataset.n_items, min(n_lines, dataset.n_items), replace=False)
    selected = sorted(set(st.session_state[SELECTED]) | ({item} if item is not None else set()))
    picked, projections = set(), set()
    slots = [col.empty() for col in st.columns(len(panels))]
    if view == "UMAP" and not all(stored_projection(p, view) for p in panels):
        # every panel's place says it is being drawn: the maps of the last pick stayed up under the new pick's
        # name for the ~20 s of a server's first UMAP, the After panel with no word that anything was happening
        for slot in slots:
            slot.info(UMAP_WAIT, icon=":material/hourglass_top:")
    for i, (col, p) in enumerate(zip(slots, panels, strict=True)):
        found = coordinates(p, view)
        if found is None:
            col.warning(f"{plain_title(p)}: nothing to draw")
            continue
        used, xy = found
        projections.add(used)
        rank = own_rank_line(p, dataset, item) if item is not None else ""
        px = round(figures.MAP_SUBTITLE_PX * presentation.chart_scale())
        fig, traces = figures.embedding_panel(xy, hover, colour, line_items, selected,
                                              f"{p['title']}<br><span style='font-size:{px}px'>{used} of "
                                              f"{p['stage']}</span>{rank}",
                                              MAP_HEIGHT_UNDER_NOTE if under_note else figures.MAP_HEIGHT,
                                              presentation.chart_scale())
        event = presentation.chart(col, fig, under_note=under_note, key=f"embeddings_panel_{i}", on_select="rerun",
                                   selection_mode=("points", "box", "lasso"))
        picked |= picked_items(event, traces)
        if used == "UMAP" and not stored_projection(p, view) and (same := analysis.one_point(vectors(p))):
            col.caption(words.ONE_POINT.format(" and ".join(same)))
    if "UMAP" in projections:
        st.caption(UMAP_READING)
    if picked and picked != set(st.session_state.get(SELECTED, [])):
        st.session_state[SELECTED] = sorted(picked)
        st.rerun()
    if item is not None:  # one item asked for: its nearest texts right under the maps, above the long table
        neighbours(panels, dataset, item)
    alignment_table(panels, dataset.n_items)
    if st.session_state.get(SELECTED):
        if urlsel.button("Clear selection", key="embeddings.clear"):
            st.session_state[SELECTED] = []
            st.rerun()
        show_selection(dataset, st.session_state[SELECTED], popularity)


def picked_items(event, traces: list) -> set[int]:
    """Item ids of the points selected in a chart event (``traces`` maps curve and point index to ids)."""
    try:
        points = event.selection.points
    except AttributeError:
        return set()
    out = set()
    for p in points or []:
        curve, index = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        if curve is not None and index is not None and curve < len(traces) and index < len(traces[curve]):
            out.add(int(traces[curve][index]))
    return out


def show_selection(dataset, selected: list[int], popularity: np.ndarray) -> None:
    cards = [item_card(dataset, i, popularity) for i in selected]
    st.subheader(f"Selected items ({len(cards)})")
    st.dataframe(pd.DataFrame([{"item": c.item, "title": c.title, "category": c.category,
                                "popularity": c.popularity} for c in cards]), hide_index=True)
    for c in [c for c in cards if c.poster is not None or c.overview][:8]:
        left, right = st.columns([1, 7])
        if c.poster is not None:
            left.image(str(c.poster), width=92)
        right.markdown(f"**{c.title}** · {c.category} · {c.popularity} training interactions")
        if c.overview:
            right.caption(c.overview)


def render() -> None:
    st.title("Embeddings before and after alignment", help="Visual (circles) and text (diamonds) item embeddings of "
             "one model, both placed by ONE joint map; a grey line joins each sampled item's picture to its text. "
             "Lines that shrink from before to after are matched pairs moving together. Lasso or click points to "
             "highlight the same items in both panels.")
    step = lessonbar.show(PAGE)
    dataset = models.dataset_or_error(state.active_dataset_name())
    if dataset is None:
        return
    # Before and After share the first row: a cell's words ("no_alignment · paper without MMD and InfoNCE") need
    # ~300 px at 1024 x 768, which a third column (the seed's) left them without. Presentation mode's type needs a
    # wider Projection column, or PCA and UMAP stack and push the maps 45 px down.
    pickers = st.columns(2)
    widths = [0.7, 1.3, 1.05, 0.95, 1.45, 0.45] if presentation.on() else [0.75, 0.9, 1.3, 1.1, 1.35, 0.5]
    seed_slot, c1, c2, c3, c4, c5 = st.columns(widths, vertical_alignment="bottom")
    panels = choose(dataset, (*pickers, seed_slot))
    titles = dataset.titles()
    view = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True,
                    **urlsel.bound(PAGE, "view", ["PCA", "UMAP"]),
                    help="PCA (default) is exact and keeps distances comparable, so pairs can be seen to move "
                    "together; UMAP keeps neighbourhoods and often draws each modality as its own island.")
    # a select, not three radio buttons: they wrapped onto a second row and pushed the maps down at 1280 x 800
    colour = c2.selectbox("Colour by", COLOURS, **urlsel.bound(PAGE, "colour", COLOURS))
    n_lines = c3.slider("Picture-text lines", 0, 300, key=key("lines"), step=10,
                        help="Lines from a random sample of items' pictures to their texts")
    item = c4.selectbox("Find an item by title", range(dataset.n_items), placeholder="type a title...",
                        **urlsel.bound(PAGE, "item", range(dataset.n_items), missing=None),
                        format_func=lambda i: f"{titles[i]} (#{i})")
    with c5.popover("", icon=":material/tune:", help="Stage of the encoders"):
        st.selectbox("Stage", list(STAGES), format_func=words.STAGE_CHOICES.get, **urlsel.bound(PAGE, "stage", STAGES),
                     help=words.STAGE_HELP)
    draw(panels, dataset, view, colour, n_lines, item, under_note=bool(step))
    urlsel.publish(PAGE, PARAMS, step)


render()
