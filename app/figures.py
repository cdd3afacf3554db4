"""The Compare and Embeddings pages' charts, built from plain tables and arrays (no model math, no Streamlit);
the DREAM inspector's are ``app.dream_figures``'.

Charts that compare runs never magnify noise: differences carry their 95% interval, a single seed is
drawn as one (hollow, no bar), and an axis is never zoomed into a spread smaller than one seed's
standard deviation. Pages import this module where they draw (plotly takes a while to import).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from mambarec.curves import seed_band

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")
# One colour per item category (ml100k has 18): PALETTE's similar blues, greens and browns made pairs such as Action
# and War hard to tell apart (CIE76 distance 4.6 at the closest pair); Plotly's Dark24 keeps its first 18 29 apart.
CATEGORY_PALETTE = tuple(qualitative.Dark24)
MODALITY_STYLE = {"visual": ("circle", "#1f77b4"), "text": ("diamond", "#ff7f0e")}
# A setup keeps its colour from chart to chart: a lesson's steps show mgcn beside different company, and mgcn was
# orange in one step and blue in the next. The others take the palette's free colours in the order drawn.
SETUP_COLORS = {"paper": PALETTE[0], "mgcn": PALETTE[1], "bpr": PALETTE[2], "no_alignment": PALETTE[3],
                "official": PALETTE[4]}
LEGEND_TOP = {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "title": None}
# px: with a lesson note above them, the r and converged lessons' x axes end above the fold at 1280 x 800
R_SWEEP_HEIGHT = 360
CURVES_HEIGHT = 340
# On a phone two panels side by side left each ~150 px, the right one's y-axis title drawn over the left one's plot
# (audit r77): there they go one under the other, the chart STACKED_TALLER times as tall
STACKED_TALLER = 1.7
STACKED_SPACING = 0.14  # of the height between stacked panels: the upper one's x-axis title and ticks
CURVE_WIDTH, CURVE_WIDEST = 2.0, 4.5  # px of the last and the first setup's mean curve (``learning_curves``)
SEED_LINE_WIDTH = 1.2  # px of one seed's own curve, past the epoch where the mean over every seed ends
NOISE_SPAN = 8.0  # an axis spans at least this many seed standard deviations


def sized(fig: go.Figure, height: int, **layout) -> go.Figure:
    """``fig`` at ``height`` px with the charts' common margins (a title's 40 px on top) and ``layout``."""
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, **layout)
    return fig


# ---- Compare -----------------------------------------------------------------------------------
def rows_in_order(fig: go.Figure, names, order=()) -> None:
    """A chart's rows top to bottom in ``order`` (the table's, the setups as picked), the names it leaves out
    after them: plotly orders categories by their first trace, so a hollow dot's row, or a groupby's sorting, put
    a lesson's r1, r2, r4, r16 upside down against the table beside it. Every row keeps its label: left to itself,
    plotly thins a category axis's labels as text grows, and in presentation mode a lesson's chart named 2 of its 4
    rows, not the one its note was about (rehearsal r70)."""
    names = list(dict.fromkeys(names))
    ranked = [n for n in order if n in names] + [n for n in names if n not in order]
    fig.update_yaxes(categoryorder="array", categoryarray=ranked, autorange="reversed", title=None,
                     tickmode="array", tickvals=ranked, ticktext=ranked)


def delta_forest(table: pd.DataFrame, metric: str, reference: str, order=()) -> go.Figure:
    """Each row's change of ``metric`` against the row named ``reference`` (in %) with its 95% interval over paired
    seeds, top to bottom in ``order`` (``rows_in_order``).

    A dot with a bar: an interval (it crosses the red line when the change is within noise). A hollow dot:
    one common seed, no interval. The x axis is symmetric around 0 and spans every interval."""
    rows = table[table["name"] != reference].dropna(subset=[f"Δ {metric} %"])
    fig = go.Figure()
    fig.add_vline(x=0, line={"color": "#d62728", "width": 1.5})
    has = rows[f"Δ {metric} low"].notna()
    for part, filled in ((rows[has], True), (rows[~has], False)):
        if part.empty:
            continue
        mean = part[f"Δ {metric} %"]
        err = {"type": "data", "symmetric": False, "array": part[f"Δ {metric} high"] - mean,
               "arrayminus": mean - part[f"Δ {metric} low"], "thickness": 2} if filled else None
        fig.add_trace(go.Scatter(
            x=mean, y=part["name"], mode="markers", error_x=err,
            name="95% interval over paired seeds" if filled else "one common seed: no interval",
            marker={"size": 11, "color": "#1f77b4", "symbol": "circle" if filled else "circle-open",
                    "line": {"width": 2, "color": "#1f77b4"}},
            customdata=part[f"Δ {metric}"], hovertemplate="%{y}: %{customdata}<extra></extra>"))
    ends = pd.concat([rows[f"Δ {metric} %"], rows[f"Δ {metric} low"], rows[f"Δ {metric} high"]]).abs()
    reach = float(np.nanmax(ends)) if len(ends.dropna()) else 1.0
    fig.update_xaxes(range=[-1.15 * reach, 1.15 * reach], title=f"Δ {metric} vs {reference}, % of its mean",
                     zeroline=False)
    rows_in_order(fig, rows["name"], order)
    return sized(fig, 110 + 30 * len(rows), legend=LEGEND_TOP, showlegend=True)


def metric_dots(points: pd.DataFrame, metric: str, order=()) -> go.Figure:
    """Each setup's mean ``metric`` with the 95% interval of that mean (``points``: name, mean, low, high, seeds),
    on an axis from 0, so differences look as large as they are (hollow: one seed, no interval); rows top to
    bottom in ``order`` (``rows_in_order``)."""
    has = points["low"].notna()
    err = {"type": "data", "symmetric": False, "array": (points["high"] - points["mean"]).where(has, 0),
           "arrayminus": (points["mean"] - points["low"]).where(has, 0), "thickness": 2}
    fig = go.Figure(go.Scatter(x=points["mean"], y=points["name"], mode="markers", error_x=err, showlegend=False,
                               marker={"size": 10, "color": "#1f77b4", "line": {"width": 2, "color": "#1f77b4"},
                                       "symbol": ["circle" if h else "circle-open" for h in has]},
                               customdata=points["seeds"], hovertemplate="%{y}: %{x:.4f} (%{customdata} seed(s))"
                                                                         "<extra></extra>"))
    top = float(np.nanmax(points["high"].fillna(points["mean"])))
    fig.update_xaxes(range=[0, 1.08 * top if top > 0 else 1], title=f"test {metric}, mean over seeds")
    rows_in_order(fig, points["name"], order)
    fig = sized(fig, 120 + 28 * len(points))
    fig.update_layout(margin={"t": 20, "b": 50})
    return fig


def honest_range(lows, highs, noise: float | None) -> list[float] | None:
    """A y range that holds every interval and spans at least ``NOISE_SPAN`` seed standard deviations."""
    lo, hi = float(np.nanmin(lows)), float(np.nanmax(highs))
    half = max((hi - lo) / 2 * 1.15, NOISE_SPAN / 2 * (noise or 0.0))
    return None if half == 0 else [(lo + hi) / 2 - half, (lo + hi) / 2 + half]


EPOCH_CAP = re.compile(r" · \d+ ep$")  # a setup label's last part, its epoch cap ("mambarec/paper · 1000 ep")


def without_cap(families) -> dict[str, str]:
    """Each setup family's name without its epoch cap: a legend's "mambarec/paper · 1000 ep" read as 1,000 epochs
    run, where early stopping ended them after 116-183. Kept where two families differ by their cap alone."""
    short = {f: EPOCH_CAP.sub("", f) for f in families}
    clash = {v for v in short.values() if list(short.values()).count(v) > 1}
    return {f: (f if v in clash else v) for f, v in short.items()}


def panels(n: int, stacked: bool, spacing: float):
    """Subplots for ``n`` panels side by side, or one under the other when ``stacked`` (a phone), and where panel k
    (from 1) goes: ``at(k)`` is its (row, col)."""
    if stacked:
        return make_subplots(n, 1, vertical_spacing=STACKED_SPACING), lambda k: (k, 1)
    return make_subplots(1, n, horizontal_spacing=spacing), lambda k: (1, k)


def panels_height(px: int, stacked: bool) -> int:
    return round(px * STACKED_TALLER) if stacked else px


def r_sweep(points: pd.DataFrame, metric: str, noise: float | None, reference: float | None,
            stacked: bool = False) -> go.Figure:
    """``metric`` and seconds per epoch against r, one line per family (``points``: family, r, mean, low,
    high, seeds, s_per_epoch, and optionally s_min / s_max, the seconds' whisker from the lowest to the highest
    seed). The grey band is the reference's mean ± one seed's std: a point inside it moved less than a seed's
    noise. The legend sits above the panels, each panel's quantity on its y axis (as in ``learning_curves``);
    ``stacked``: the panels one under the other (``panels``)."""
    fig, at = panels(2, stacked, 0.12)
    colors = setup_colors(points["family"].unique())
    names = without_cap(points["family"].unique())
    for family, part in points.groupby("family", sort=False):
        part = part.sort_values("r")
        color = colors[family]
        has = part["low"].notna()
        err = {"type": "data", "symmetric": False, "array": (part["high"] - part["mean"]).where(has, 0),
               "arrayminus": (part["mean"] - part["low"]).where(has, 0)}
        fig.add_trace(go.Scatter(x=part["r"], y=part["mean"], mode="lines+markers", error_y=err, name=names[family],
                                 legendgroup=family, line={"color": color},
                                 marker={"size": 9, "symbol": ["circle" if h else "circle-open" for h in has],
                                         "line": {"width": 2, "color": color}},
                                 customdata=part["seeds"], hovertemplate="r = %{x}: %{y:.4f} (%{customdata} seed(s))"
                                                                         "<extra></extra>"), *at(1))
        spread = ({"type": "data", "symmetric": False, "array": part["s_max"] - part["s_per_epoch"],
                   "arrayminus": part["s_per_epoch"] - part["s_min"]} if "s_min" in part else None)
        fig.add_trace(go.Bar(x=part["r"].astype(int).astype(str), y=part["s_per_epoch"], name=names[family],
                             legendgroup=family, showlegend=False, marker_color=color, error_y=spread,
                             hovertemplate="r = %{x}: %{y:.1f} s an epoch (mean over seeds)<extra></extra>"), *at(2))
    (row1, col1), (row2, col2) = at(1), at(2)
    if noise and reference is not None:  # after the traces: shapes skip subplots that are still empty
        fig.add_hrect(y0=reference - noise, y1=reference + noise, fillcolor="rgba(120,120,120,0.25)", line_width=0,
                      layer="below", row=row1, col=col1)
    rng = honest_range(points["low"].fillna(points["mean"]), points["high"].fillna(points["mean"]), noise)
    fig.update_xaxes(type="log", tickvals=sorted(points["r"].unique()), title_text="r", row=row1, col=col1)
    fig.update_xaxes(type="category", title_text="r", row=row2, col=col2)
    fig.update_yaxes(range=rng, title_text=f"{metric} (test)", row=row1, col=col1)
    fig.update_yaxes(rangemode="tozero", title_text="seconds per epoch", row=row2, col=col2)
    return sized(fig, panels_height(R_SWEEP_HEIGHT, stacked), legend=LEGEND_TOP, barmode="group")


def setup_colors(names) -> dict[str, str]:
    """A colour per name: the headline setups their own (SETUP_COLORS), the others the free ones in order."""
    fixed = {name: SETUP_COLORS[name] for name in names if name in SETUP_COLORS}
    # a headline setup's colour goes to another setup only once the other colours are taken: converged.4 drew
    # mgcn_paper_sched in the blue that paper wore in the steps before it
    free = ([c for c in PALETTE if c not in SETUP_COLORS.values()]
            + [c for c in SETUP_COLORS.values() if c not in fixed.values()])
    others = [name for name in dict.fromkeys(names) if name not in fixed]
    return {**fixed, **{name: free[i % len(free)] for i, name in enumerate(others)}}


LOSS_WORDS = {"total": "training loss (total)", "bpr": "BPR loss", "cl": "InfoNCE loss", "mmd": "MMD loss",
              "l2": "L2 penalty", "mirror": "mirror BPR loss (FREEDOM)"}  # the trainer's loss parts, in words


def curve_words(column: str) -> str:
    """A history column in words for an axis: "valid/Recall@20" -> "valid Recall@20", "loss/cl" -> "InfoNCE loss"."""
    kind, _, name = column.partition("/")
    if kind == "loss":
        return LOSS_WORDS.get(name, f"{name} loss")
    return f"{kind} {name}" if name else column


def learning_curves(hist: pd.DataFrame, metric: str, loss: str | None, mark: int = 0,
                    stacked: bool = False) -> go.Figure:
    """Per run name: the mean over seeds per epoch and a band from the lowest to the highest seed while every seed
    runs, then a dotted line for each seed that ran on, a triangle at each seed's best epoch and a dotted vertical
    line at the epoch cap when a seed stopped there; a dark dashed line at epoch ``mark`` (a lesson's "read them at
    epoch 20", which at 1024 px had no tick of its own), unless 0. The legend sits above
    the panels (below them it fell under the fold at 1280 x 800) and each panel names its curve on its y axis.
    Curves drawn later lie on top, so each is thinner than the one before: where two setups' means coincide, the
    earlier one shows as a rim (converged.2's `paper` vanished under `no_alignment`). ``stacked``: the panels one
    under the other (``panels``)."""
    cols = 2 if loss else 1
    stacked = stacked and cols > 1
    fig, at = panels(cols, stacked, 0.08)
    names = hist["name"].unique()
    colors = setup_colors(names)
    widths = dict(zip(names, np.linspace(CURVE_WIDEST, CURVE_WIDTH, len(names)) if len(names) > 1 else [CURVE_WIDTH],
                      strict=True))
    for name, part in hist.groupby("name", sort=False):
        color = colors[name]
        seeds = part["seed"].nunique()
        for col, column in enumerate([metric, loss][:cols], start=1):
            if column not in part or part[column].isna().all():
                continue
            known = part.dropna(subset=[column])
            # The mean and band only while every seed still runs (mambarec.curves.seed_band, as REPORT.md's plots);
            # from there on each seed that went on is a line of its own.
            band = seed_band(known["seed"], known["epoch"], known[column])
            common = int(band.common)
            if seeds > 1:
                fig.add_trace(go.Scatter(x=[*band.epochs, *band.epochs[::-1]], y=[*band.high, *band.low[::-1]],
                                         fill="toself", fillcolor=_rgba(color, 0.18), line={"width": 0},
                                         hoverinfo="skip", showlegend=False, legendgroup=name), *at(col))
            later = known[known["epoch"] >= common]
            fig.add_trace(go.Scatter(x=band.epochs, y=band.mean, mode="lines",
                                     line={"color": color, "width": widths[name]},
                                     name=f"{name} ({seeds} seed{'s' if seeds != 1 else ''}"
                                     + (f"; mean to epoch {common})" if later["epoch"].max() > common else ")"),
                                     legendgroup=name, showlegend=col == 1), *at(col))
            for seed, alone in later.groupby("seed"):
                if len(alone) > 1:
                    fig.add_trace(go.Scatter(x=alone["epoch"], y=alone[column], mode="lines", legendgroup=name,
                                             line={"color": color, "width": SEED_LINE_WIDTH, "dash": "dot"},
                                             showlegend=False, hovertemplate=f"{name}, seed {seed}: %{{y:.4f}} at "
                                             "epoch %{x}<extra></extra>"), *at(col))
            if col == 1:
                best = part[part["epoch"] == part["best_epoch"]]
                fig.add_trace(go.Scatter(x=best["epoch"], y=best[column], mode="markers", legendgroup=name,
                                         marker={"symbol": "triangle-up", "size": 11, "color": color},
                                         showlegend=False, hovertemplate="best epoch %{x}<extra></extra>"), *at(col))
        caps = part.groupby("run")["epoch"].max().to_numpy()
        cap = part["epochs_cap"].max()
        if cap == cap and (caps >= cap).any():  # a seed ran into the cap: it did not converge by early stopping
            for k in range(1, cols + 1):
                fig.add_vline(x=cap, line={"dash": "dot", "color": color}, row=at(k)[0], col=at(k)[1])
    named = {"annotation_text": f"epoch {mark}", "annotation_position": "bottom right"}  # low: the curves climb
    for k in range(1, cols + 1) if mark else ():  # named on the first panel only
        fig.add_vline(x=mark, line={"dash": "dash", "color": MARK_DARK, "width": 1.5}, row=at(k)[0], col=at(k)[1],
                      **(named if k == 1 else {}))
    fig.update_xaxes(title_text="epoch")
    for k, title in enumerate([metric, loss][:cols], start=1):
        fig.update_yaxes(title_text=curve_words(title), row=at(k)[0], col=at(k)[1])
    return sized(fig, panels_height(CURVES_HEIGHT, stacked), legend=LEGEND_TOP)


MARK_DARK = "#333"  # the learning curves' marked epoch: darker than any setup's colour (PALETTE's grey is #7f7f7f)
COLD_WARM_BAR = 0.38  # each group's bar height, in rows (a setup's two bars fill 76% of its row)
VALUE_ROOM = 0.3  # of the longest bar's length, past it, for its value written after it


def cold_warm_bars(table: pd.DataFrame, metric: str, chance: float | None = None) -> go.Figure:
    """``metric`` on cold and on warm test items per setup (``table``: name, group, mean, seeds, low, high), each bar
    with its mean and, over several seeds, its 95% interval, and ``chance`` (what a random ranking gets) as a dashed
    line: a cold bar of 0.006 beside 0.5 looked like "a little" content signal, where it was below chance. Setups sit
    at rows 0, 1, ... (named on the axis) so that each value can be written past its bar's whisker, not on it."""
    fig = go.Figure()
    names = list(dict.fromkeys(table["name"]))
    ends = []  # where each value's text starts
    for j, (group, color) in enumerate((("warm", "#1f77b4"), ("cold", "#17becf"))):
        part = table[table["group"] == group]
        mean, high, low = part["mean"], part["high"].astype(float), part["low"].astype(float)  # NaN: one seed
        y = part["name"].map(names.index) + (j - 0.5) * COLD_WARM_BAR
        spread = [f"[{lo:.4f}, {hi:.4f}] over {n} seeds" if n > 1 else "1 seed, no interval"
                  for lo, hi, n in zip(low, high, part["seeds"], strict=True)]
        fig.add_trace(go.Bar(
            y=y, x=mean, orientation="h", width=COLD_WARM_BAR * 0.95, name=f"{group} items", marker_color=color,
            error_x={"type": "data", "symmetric": False, "color": "#444", "array": high - mean,
                     "arrayminus": mean - low},
            customdata=np.stack([part["name"], spread], axis=1),
            hovertemplate=f"%{{customdata[0]}}, {group} items: %{{x:.4f}} %{{customdata[1]}}<extra></extra>"))
        # the value after its whisker; a bar short of the random-ranking line has it after the line, where the dashed
        # line no longer runs through it and it does not read struck through (rehearsal r55)
        at = high.fillna(mean) if chance is None else np.maximum(high.fillna(mean), chance)
        ends += list(at)
        fig.add_trace(go.Scatter(x=at, y=y, mode="text", text=[f"  {v:.3f}" for v in mean],
                                 textposition="middle right", cliponaxis=False, showlegend=False, hoverinfo="skip"))
    if chance is not None:
        fig.add_vline(x=chance, line_dash="dash", line_color="#d62728")
        # named in the key, where no bar is: inside the plot the label sat on the first warm bar (rehearsal r55), and
        # above it, on a phone, under the key's "warm items" (audit r79, item 3)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"dash": "dash", "color": "#d62728"},
                                 name=f"random ranking ≈ {chance:.3f}", hoverinfo="skip"))
    # room past the longest bar for its value (~6 characters): autorange left none, and on a phone's ~230 px plot
    # "0.519" ran past the chart's edge as "0.5" (audit r79, item 3)
    top = float(np.nanmax(ends)) if ends and not np.all(np.isnan(ends)) else None
    fig.update_xaxes(title=f"test {metric}", **({"range": [0, top * (1 + VALUE_ROOM)]} if top else
                                                {"rangemode": "tozero"}))
    fig.update_yaxes(tickvals=list(range(len(names))), ticktext=names, autorange="reversed", showgrid=False)
    return sized(fig, 120 + 40 * len(names), barmode="overlay", legend={**LEGEND_TOP, "x": 1, "xanchor": "right"})


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# ---- Embeddings -----------------------------------------------------------------------------------
def _points(fig: go.Figure, traces: list, items: np.ndarray, xy: np.ndarray, modality: str, hover: np.ndarray,
            name: str, color, legend: bool, opacity: float, colorbar: bool = False) -> None:
    symbol, _ = MODALITY_STYLE[modality]
    marker = {"symbol": symbol, "size": 6, "color": color, "opacity": opacity, "line": {"width": 0}}
    if colorbar:
        marker.update(colorscale="Viridis", showscale=True, colorbar={"title": "log(1+pop)", "thickness": 10})
    fig.add_trace(go.Scatter(
        x=xy[items, 0], y=xy[items, 1], mode="markers", name=name, legendgroup=name, showlegend=legend,
        marker=marker, customdata=hover[items],
        hovertemplate="<b>%{customdata[1]}</b><br>item %{customdata[0]} · %{customdata[2]}<br>"
                      f"popularity %{{customdata[3]}}<br>{modality}<extra></extra>"))
    traces.append(items)


def _pairs(fig: go.Figure, traces: list, xy: dict, items, color: str, width: float) -> None:
    xs, ys = [], []
    for i in items:
        xs += [xy["visual"][i, 0], xy["text"][i, 0], None]
        ys += [xy["visual"][i, 1], xy["text"][i, 1], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": width}, hoverinfo="skip",
                             showlegend=False))
    traces.append(np.zeros(0, np.int64))


EMBEDDING_TOP = 50  # px above an embedding map for its two-line title
TITLE_LINE = 17  # px a further title line takes
MAP_TITLE_PX, MAP_SUBTITLE_PX, MAP_RANK_PX = 14, 11, 12  # an embedding map's title, its second and third lines
# The lines joining an item's picture to its text: grey, as the lessons call them (at 0.55 alpha of near-black, 80
# overlapping lines read black on the projector: rehearsal r55)
PAIR_LINE = "rgba(110,110,110,0.45)"
MAP_HEIGHT = 430  # px of an embedding map on its own page; a lesson step passes less (app/pages/embeddings.py)


def embedding_panel(xy: dict, hover: pd.DataFrame, colour: str, line_items, selected: list[int],
                    title: str, height: int = MAP_HEIGHT, text_scale: float = 1.0) -> tuple[go.Figure, list]:
    """One joint map of both modalities: visual circles, text diamonds, a line from each sampled item's
    picture to its text (short lines = matched pairs moved together); ``selected`` items drawn large.
    Returns the figure and, per trace, the item id of each point (to read a selection back). The key sits
    under the map (above it, at the right of the title, it ran into the title's lines in 1024 px columns), so a
    page that puts the map lower passes a smaller ``height`` to keep it in sight. ``text_scale``: the title's size
    against the page's (presentation mode's larger type; the title's font is its own, which the page's does not
    reach)."""
    fig, traces = go.Figure(), []
    data = hover.to_numpy(dtype=object)
    everything = np.arange(len(hover))
    opacity = 0.3 if selected else 0.7
    categories = hover["category"].to_numpy()
    for m in ("visual", "text"):
        if colour == "modality":
            _points(fig, traces, everything, xy[m], m, data, m, MODALITY_STYLE[m][1], True, opacity)
        elif colour == "category":
            for j, cat in enumerate(sorted(set(categories))):
                _points(fig, traces, np.nonzero(categories == cat)[0], xy[m], m, data, cat,
                        CATEGORY_PALETTE[j % len(CATEGORY_PALETTE)], m == "visual", opacity)
        else:
            _points(fig, traces, everything, xy[m], m, data, m, np.log1p(hover["popularity"].to_numpy(float)),
                    False, opacity, colorbar=m == "visual")
    if len(line_items):  # over the points: a short line must stay visible inside a dense cloud
        _pairs(fig, traces, xy, line_items, PAIR_LINE, 1)
    if selected:
        sel = np.asarray(selected)
        _pairs(fig, traces, xy, sel[:60], "black", 2)
        for m in ("visual", "text"):
            symbol, color = MODALITY_STYLE[m]
            fig.add_trace(go.Scatter(
                x=xy[m][sel, 0], y=xy[m][sel, 1], mode="markers", showlegend=False, name=f"selected {m}",
                marker={"symbol": symbol, "size": 12, "color": color, "line": {"color": "black", "width": 1.5}},
                customdata=data[sel], hovertemplate=f"<b>%{{customdata[1]}}</b><br>item %{{customdata[0]}}<br>{m}"
                                                    "<extra></extra>"))
            traces.append(sel)
    top = EMBEDDING_TOP + TITLE_LINE * max(0, title.count("<br>") - 1)  # a third title line: the picked item's rank
    fig.update_layout(height=height, margin={"l": 5, "r": 5, "t": round(top * text_scale), "b": 5}, dragmode="lasso",
                      title={"text": title, "font": {"size": round(MAP_TITLE_PX * text_scale)}, "x": 0,
                             "xanchor": "left"},
                      legend={"orientation": "h", "y": -0.02, "yanchor": "top", "itemsizing": "constant"},
                      modebar={"orientation": "v"})  # a row of tools on hover lay over the title's lines
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig, traces
