"""Embeddings: the visual and text item embeddings before and after alignment (docs/model.md section 4).

Each panel is one joint 2-D map of both modalities of one model (``mambarec.analysis``): "before"
is the run freshly initialized (or another run, e.g. alignment off), "after" the trained run.
PCA is drawn at once and UMAP replaces it when ready; precomputed maps are drawn as stored.
Selecting points in either panel highlights the same items in both. The page only wires widgets
to ``mambarec`` and draws what it returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import models, state
from mambarec import analysis
from mambarec.recommend import item_card, precomputed_for

NO_RUNS = ("No trained run on this dataset yet, so there is no \"after\". Train one on the **Train** page, or run "
           "`python -m mambarec precompute` for the precomputed runs and maps. Shown meanwhile: the freshly "
           "initialized paper model, i.e. the modality gap alignment starts from.")
SELECTED = "embeddings_selected_items"
UMAP_DONE = "embeddings_umap_done"
MODAL_MODELS = ("mambarec", "mgcn")  # models with visual and text encoders (mambarec.analysis)
MAX_SELECTED_PAIRS = 60  # beyond this, lines between a selection's two modalities hide the points
STAGES = {"modal": "the d-dim modal features (after DREAM)", "dream": "DREAM's output",
          "input": "DREAM's input (projected features)"}
MODALITY_STYLE = {"visual": ("circle", "#1f77b4"), "text": ("diamond", "#ff7f0e")}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
           "#756bb1", "#636363")
METRICS = (("mmd", "MMD", "↓"), ("mean_cosine", "matched cosine", "↑"), ("recall@1", "retrieval R@1", "↑"),
           ("recall@10", "retrieval R@10", "↑"), ("alignment", "alignment", "↓"), ("uniformity", "uniformity", "↓"))


# ---- cached library calls -----------------------------------------------------------------------


@st.cache_data(show_spinner="Reading the precomputed maps...", max_entries=4)
def precomputed_alignment(fingerprint: str, folder: tuple, _dataset) -> dict:
    pre = precomputed_for(_dataset, state.precomputed_dir())
    return {} if pre is None else pre["alignment"].get(_dataset.name, {})


@st.cache_data(show_spinner=False, max_entries=32)
def embeddings(model_key: str, stage: str, _model) -> dict[str, np.ndarray]:
    return analysis.modality_embeddings(_model, stage)


@st.cache_data(show_spinner=False, max_entries=32)
def projection(visual: np.ndarray, text: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return analysis.project_joint(visual, text, method=method, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def metrics(visual: np.ndarray, text: np.ndarray, sigma: float) -> dict[str, float]:
    return analysis.alignment_metrics(visual, text, sigma=sigma)


# ---- panels -------------------------------------------------------------------------------------
def model_panel(name: str, source: str, key: str, model, stage: str) -> dict | None:
    try:
        emb = embeddings(key, stage, model)
    except ValueError as exc:
        st.warning(f"{name}: {exc}")
        return None
    return {"name": name, "source": source, "key": f"{key}|{stage}", "visual": emb["visual"], "text": emb["text"],
            "stage": STAGES[stage]}


def stored_panel(name: str, source: str, key: str, snapshot: dict, item_ids: list[int], n_items: int) -> dict:
    xy = {}
    for method in ("pca", "umap"):
        if method in snapshot:
            pair = []
            for m in ("visual", "text"):
                arr = np.zeros((n_items, 2))
                arr[np.asarray(item_ids)] = np.asarray(snapshot[method][m], dtype=float)
                pair.append(arr)
            xy[method] = tuple(pair)
    return {"name": name, "source": source, "key": key, "xy": xy, "metrics": snapshot.get("metrics", {}),
            "stage": STAGES["modal"]}


def _cell_label(stem: str) -> str:
    cell, _, seed = stem.rpartition("_s")
    return f"{cell}, seed {seed}"


def precomputed_panels(stored: dict, n_items: int, c2, c3) -> list[dict]:
    cells = sorted(stored)
    aligned = [i for i, c in enumerate(cells) if c.startswith(("paper_", "official_"))]  # MMD + InfoNCE on
    after = c3.selectbox("After (trained)", cells, index=aligned[0] if aligned else 0, format_func=_cell_label)
    others = [c for c in cells if c != after]
    before = c2.selectbox("Before", ["initialized", *others], help="The same run at initialization, or another "
                          "trained run (no_alignment: MMD and InfoNCE off).",
                          format_func=lambda s: f"{_cell_label(after)}, initialized" if s == "initialized"
                          else f"{_cell_label(s)}, trained")
    ids = stored[after]["item_id"]
    if before == "initialized":
        first = stored_panel("Before", f"precomputed {_cell_label(after)}, initialized", f"pre|init|{after}",
                             stored[after]["before"], ids, n_items)
    else:
        first = stored_panel("Before", f"precomputed {_cell_label(before)}, trained", f"pre|{before}",
                             stored[before]["after"], stored[before]["item_id"], n_items)
    return [first, stored_panel("After", f"precomputed {_cell_label(after)}, trained", f"pre|{after}",
                                stored[after]["after"], ids, n_items)]


def run_panels(runs: list[dict], dataset, c1, c2, c3) -> list[dict]:
    fp = dataset.fingerprint()
    labels = [s["label"] for s in runs]
    active = state.active_run()
    default = next((i for i, s in enumerate(runs) if active and str(s["path"]).startswith(str(active))), 0)
    after_i = c3.selectbox("After (trained run)", range(len(runs)), index=default, format_func=lambda i: labels[i])
    before_i = c2.selectbox("Before", [-1, *(i for i in range(len(runs)) if i != after_i)],
                            format_func=lambda i: "the same run, freshly initialized" if i < 0 else labels[i],
                            help="An alignment-off run (use_mmd=false, use_cl=false) is the other natural 'before'.")
    stage = c1.selectbox("Stage", list(STAGES), format_func=lambda s: STAGES[s],
                         help="Which encoder output to project; the MMD of training acts on DREAM's output.")
    src = runs[after_i]
    path = str(src["path"])
    try:
        after_model = models.model(path, models.mtime(src["path"]), fp, dataset)
        if before_i < 0:
            before = model_panel("Before", f"{src['label']}, initialized", f"init|{path}|{models.mtime(path)}",
                                 models.initial(path, models.mtime(src["path"]), fp, dataset), stage)
        else:
            b = runs[before_i]
            before = model_panel("Before", b["label"], f"run|{b['path']}|{models.mtime(b['path'])}",
                                 models.model(str(b["path"]), models.mtime(b["path"]), fp, dataset), stage)
    except (ValueError, RuntimeError) as exc:  # CheckpointError (unreadable, other data), no CUDA
        st.error(str(exc))
        return []
    after = model_panel("After", src["label"], f"run|{path}|{models.mtime(path)}", after_model, stage)
    return [p for p in (before, after) if p]


def choose_panels(dataset) -> list[dict]:
    fp = dataset.fingerprint()
    runs = [s for s in models.sources(fp, models.signature(), dataset)
            if s["config"].get("model_name", "mambarec") in MODAL_MODELS]
    stored = precomputed_alignment(fp, (str(state.precomputed_dir()), models.mtime()), dataset)
    if not stored and models.mtime():  # a precomputed folder exists but cannot be used: say why
        _, why = state.precomputed_table(dataset.name)
        if why:
            st.caption(f"Precomputed maps not shown: {why}.")
    modes = (["precomputed maps"] if stored else []) + (["a saved run or checkpoint"] if runs else [])
    if not modes:
        st.info(NO_RUNS)
        panel = model_panel("Before: initialized paper model", "untrained", f"untrained|paper|{fp}",
                            models.untrained("paper", fp, dataset), "modal")
        return [panel] if panel else []
    c1, c2, c3 = st.columns([1, 1.4, 1.4])
    mode = c1.radio("Source", modes, help="Precomputed maps come from `python -m mambarec precompute`.")
    if mode == "precomputed maps":
        return precomputed_panels(stored, dataset.n_items, c2, c3)
    return run_panels(runs, dataset, c1, c2, c3)


# ---- figure ---------------------------------------------------------------------------------------
def _points(fig: go.Figure, traces: list, items: np.ndarray, xy: np.ndarray, modality: str, hover: np.ndarray,
            name: str, color, legend: bool, opacity: float, colorbar: bool = False) -> None:
    symbol, _ = MODALITY_STYLE[modality]
    marker = dict(symbol=symbol, size=6, color=color, opacity=opacity, line=dict(width=0))
    if colorbar:
        marker.update(colorscale="Viridis", showscale=True, colorbar=dict(title="log(1+pop)", thickness=10))
    fig.add_trace(go.Scattergl(
        x=xy[items, 0], y=xy[items, 1], mode="markers", name=name, legendgroup=name, showlegend=legend,
        marker=marker, customdata=hover[items],
        hovertemplate="<b>%{customdata[1]}</b><br>item %{customdata[0]} · %{customdata[2]}<br>"
                      f"popularity %{{customdata[3]}}<br>{modality}<extra></extra>"))
    traces.append(items)


def _pairs(fig: go.Figure, traces: list, xy: dict, items, color: str, width: float, name: str) -> None:
    xs, ys = [], []
    for i in items:
        xs += [xy["visual"][i, 0], xy["text"][i, 0], None]
        ys += [xy["visual"][i, 1], xy["text"][i, 1], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=width), hoverinfo="skip",
                             name=name, showlegend=False))
    traces.append(np.zeros(0, np.int64))


def figure(xy: dict, hover: pd.DataFrame, colour: str, line_items, selected: list[int]) -> tuple[go.Figure, list]:
    """The panel and, per trace, the item id of each of its points (to read selections back)."""
    fig, traces = go.Figure(), []
    data = hover.to_numpy(dtype=object)
    everything = np.arange(len(hover))
    opacity = 0.25 if selected else 0.8
    if len(line_items):
        _pairs(fig, traces, xy, line_items, "rgba(120,120,120,0.35)", 1, "pairs")
    categories = hover["category"].to_numpy()
    for m in ("visual", "text"):
        if colour == "modality":
            _points(fig, traces, everything, xy[m], m, data, m, MODALITY_STYLE[m][1], True, opacity)
        elif colour == "category":
            for j, cat in enumerate(sorted(set(categories))):
                _points(fig, traces, np.nonzero(categories == cat)[0], xy[m], m, data, cat,
                        PALETTE[j % len(PALETTE)], m == "visual", opacity)
        else:
            _points(fig, traces, everything, xy[m], m, data, m, np.log1p(hover["popularity"].to_numpy(float)),
                    False, opacity, colorbar=m == "visual")
    if selected:
        sel = np.asarray(selected)
        _pairs(fig, traces, xy, sel[:MAX_SELECTED_PAIRS], "black", 1.5, "selected pairs")
        for m in ("visual", "text"):
            symbol, color = MODALITY_STYLE[m]
            fig.add_trace(go.Scattergl(
                x=xy[m][sel, 0], y=xy[m][sel, 1], mode="markers", showlegend=False, name=f"selected {m}",
                marker=dict(symbol=symbol, size=11, color=color, line=dict(color="black", width=1.5)),
                customdata=data[sel], hovertemplate=f"<b>%{{customdata[1]}}</b><br>item %{{customdata[0]}}<br>{m}"
                                                    "<extra></extra>"))
            traces.append(sel)
    fig.update_layout(height=480, margin=dict(l=5, r=5, t=55, b=5), dragmode="lasso",
                      legend=dict(orientation="h", y=-0.02, yanchor="top", itemsizing="constant"))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig, traces


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


# ---- page -----------------------------------------------------------------------------------------
def metrics_table(panels: list[dict], sigma: float) -> pd.DataFrame | None:
    columns = {}
    for panel in panels:
        if "metrics" in panel:
            values = panel["metrics"]
        else:
            try:
                values = metrics(panel["visual"], panel["text"], sigma)
            except ValueError as exc:
                st.caption(f"{panel['name']}: no alignment numbers ({exc})")
                continue
        columns[panel["name"]] = [values.get(k, float("nan")) for k, _, _ in METRICS]
    if not columns:
        return None
    return pd.DataFrame(columns, index=[f"{label} {better}" for _, label, better in METRICS])


def show_selection(dataset, selected: list[int], popularity: np.ndarray) -> None:
    cards = [item_card(dataset, i, popularity) for i in selected]
    st.subheader(f"Selected items ({len(cards)})")
    st.dataframe(pd.DataFrame([{"item": c.item, "title": c.title, "category": c.category,
                                "popularity": c.popularity} for c in cards]), hide_index=True)
    rich = [c for c in cards if c.poster is not None or c.overview]
    for c in rich[:8]:
        left, right = st.columns([1, 7])
        if c.poster is not None:
            left.image(str(c.poster), width=92)
        right.markdown(f"**{c.title}** · {c.category} · {c.popularity} training interactions")
        if c.overview:
            right.caption(c.overview)
    if len(rich) > 8:
        st.caption(f"Posters and overviews of the first 8 of {len(rich)} shown.")


def coordinates(panel: dict, method: str, seed: int) -> tuple[str, dict[str, np.ndarray]]:
    """(the method actually used, {"visual": xy, "text": xy}); stored maps fall back to their PCA."""
    key = method.lower()
    if "xy" in panel:
        if key not in panel["xy"]:
            method, key = "PCA", "pca"
        pair = panel["xy"][key]
    else:
        pair = projection(panel["visual"], panel["text"], key, seed)
    return method, dict(zip(("visual", "text"), pair, strict=True))


def title(panel: dict, what: str) -> dict:
    return dict(text=f"<b>{panel['name']}</b> · {panel['source']}<br><span style='font-size:11px'>{what}</span>",
                font=dict(size=14), x=0, xanchor="left")


def draw(panels: list[dict], dataset, method: str, colour: str, n_lines: int, seed: int) -> None:
    popularity = dataset.item_popularity()
    hover = pd.DataFrame({"item": np.arange(dataset.n_items), "title": dataset.titles(),
                          "category": dataset.categories(), "popularity": popularity})
    line_items = np.random.default_rng(seed).choice(dataset.n_items, min(n_lines, dataset.n_items), replace=False)
    selected = sorted(st.session_state.get(SELECTED, []))
    cols = st.columns([1] * len(panels) + [0.7])
    slots = [col.empty() for col in cols[: len(panels)]]
    done = st.session_state.setdefault(UMAP_DONE, set())
    pending = [p for p in panels if method == "UMAP" and "xy" not in p and (p["key"], seed) not in done]
    if pending:  # instant PCA preview, replaced below when UMAP is ready
        for slot, panel in zip(slots, panels, strict=True):
            fig, _ = figure(coordinates(panel, "PCA", seed)[1], hover, colour, line_items, selected)
            fig.update_layout(title=title(panel, "PCA preview (UMAP computing...)"))
            slot.plotly_chart(fig, config={"displayModeBar": False})
        with st.spinner("Computing UMAP (once per model and seed, then cached)..."):
            for panel in pending:
                coordinates(panel, "UMAP", seed)
                done.add((panel["key"], seed))
    picked = set()
    for i, (slot, panel) in enumerate(zip(slots, panels, strict=True)):
        used, xy = coordinates(panel, method, seed)
        fig, traces = figure(xy, hover, colour, line_items, selected)
        fig.update_layout(title=title(panel, f"{used} of {panel['stage']}" + (
            "" if used == method else f" (no stored {method} map)")))
        event = slot.plotly_chart(fig, key=f"embeddings_panel_{i}", on_select="rerun",
                                  selection_mode=("points", "box", "lasso"))
        picked |= picked_items(event, traces)
    with cols[-1]:
        computed = any("xy" not in p for p in panels)
        sigma = st.select_slider("MMD sigma", [0.5, 1.0, 1.5, 2.0], value=1.0) if computed else 1.0
        table = metrics_table(panels, sigma)
        if table is not None:
            st.dataframe(table, column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns})
            if not computed:
                sigma = panels[0]["metrics"].get("sigma", sigma)
            st.caption(f"↑/↓: higher/lower is better. L2-normalized rows, {dataset.n_items} items, MMD sigma = "
                       f"{sigma}. Retrieval: visual -> text by cosine over all items (chance R@1 = "
                       f"{1 / dataset.n_items:.4f}). Uniformity: pooled set, Wang & Isola. Panels are separate fits: "
                       "compare shapes, not coordinates.")
    if picked and picked != set(selected):
        st.session_state[SELECTED] = sorted(picked)
        st.rerun()
    if selected:
        if st.button("Clear selection"):
            st.session_state[SELECTED] = []
            st.rerun()
        show_selection(dataset, selected, popularity)


def render() -> None:
    st.title("Embeddings before and after alignment")
    st.caption("Visual (circles) and text (diamonds) item embeddings of one model, both projected by ONE joint map. "
               "Before: the run freshly initialized, or another run such as alignment off; after: the trained run. "
               "Lasso, box or click points in one panel to highlight the same items in the other.")
    dataset = state.get_dataset(state.active_dataset_name())
    panels = choose_panels(dataset)
    if not panels:
        return
    c1, c2, c3, c4 = st.columns([1, 1.4, 1.3, 0.7])
    method = c1.radio("Projection", ["UMAP", "PCA"], horizontal=True,
                      help="PCA is exact and instant; UMAP is computed once per model and cached.")
    colour = c2.radio("Colour by", ["modality", "category", "popularity"], horizontal=True)
    n_lines = c3.slider("Lines between the two modalities of", 0, 300, 0, 10, help="a random sample of items")
    seed = int(c4.number_input("Seed", 0, 10_000, 0))
    draw(panels, dataset, method, colour, n_lines, seed)


render()
