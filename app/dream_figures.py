"""The DREAM inspector's charts: one item's maps through DREAM's branches, their receptive fields, the two attention
maps and the output block, built from ``mambarec.inspect_dream``'s arrays (no model math, no Streamlit). The
Compare and Embeddings charts are ``app.figures``'; the page imports this module where it draws (plotly is slow
to import).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures import sized

MEAN = -1  # "mean of all" (channels) in the channel picker
HOVER = "row %{y}, col %{x}: %{z:.4f}<extra></extra>"


def _heat(z: np.ndarray, colorscale: str = "Viridis", zmin=None, zmax=None, showscale: bool = False) -> go.Heatmap:
    return go.Heatmap(z=z, colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=showscale, hovertemplate=HOVER)


def _stacked(label: str) -> str:
    """A branch's label on two lines ("3x3<br>dilation 1"): six panel titles in a row ran into each other below
    1280 px (at 1024 x 768 they read "3x3, dilation 13x3, dilation 2...")."""
    return label.replace(", ", "<br>", 1).replace(" + ", "<br>+ ", 1)


TWO_LINE_TOP = 62  # px above the panels for two-line titles
# The 1 x 1 maps' rows have no title: the usual 40 px of blank above them pushed their axis under a 1280 x 800 fold
# in presentation mode (dream.2); the rows keep their 240 px
NO_TITLE_TOP = 12
CHANNEL_MAPS_HEIGHT = 262
TWO_LINE_ROWS_PX = 90  # more height for the channel maps' rows named on two lines (a phone): ~18 px a branch row
# the branches' colour bar: its title beside it and at most 4 ticks, so the few px a short chart leaves it (the 1 x 1
# maps' rows under a lesson note in presentation mode) hold its labels apart (0, 0.5, 1, 1.5 and 2 overlapped:
# rehearsal r70)
BRANCH_BAR = {"title": {"text": "branch", "side": "right"}, "thickness": 10, "nticks": 4}
SPATIAL_HEIGHT, RECEPTIVE_HEIGHT = 290, 320  # px of the two rows of panels, each in one row
THREE_LINE_TOP = 80  # the branch maps' titles: the label's two lines and how many of a 3x3 kernel's taps are on the map
RECEPTIVE_TOP = TWO_LINE_TOP + 30  # the receptive fields' titles: the label's two lines and two lines of counts
# On a phone a row of six panels left each ~20 px wide, its title run into its neighbours' (audit r77): there the
# panels go into rows of PHONE_PANELS, each row its titles' px and ROW_PANEL_PX (about a panel's side at 390 px
# wide, two to a row: a taller row left the square panel floating under its titles)
PHONE_PANELS = 2
ROW_PANEL_PX = 120
ROWS_SPACING = 0.07  # of the width between panels in rows: at 0.02 two ~65 px titles ran together ("4/9 on map1/9")


def _grid(n: int, per_row: int | None) -> tuple[int, int]:
    """(rows, columns) for ``n`` panels, at most ``per_row`` to a row (None: all in one)."""
    cols = min(n, per_row or n)
    return -(-n // cols), cols


def _panels(n: int, per_row: int | None, height: int, top: int, titles: list[str], spacing: float):
    """Subplots for ``n`` panels in rows (``_grid``): ``height`` px in one row, else ``top`` px (their titles) and
    ``ROW_PANEL_PX`` a row; with the chart's height and where panel k (from 0) goes: (row, column)."""
    rows, cols = _grid(n, per_row)
    tall = height if rows == 1 else rows * (top + ROW_PANEL_PX) + 10  # sized's 10 px bottom margin
    gap = top / max(tall - top - 10, 1)  # the first row's titles are in the top margin, the others' in the gaps
    fig = make_subplots(rows, cols, subplot_titles=titles, horizontal_spacing=spacing if rows == 1 else ROWS_SPACING,
                        vertical_spacing=gap if rows > 1 else None)
    return fig, tall, [(k // cols + 1, k % cols + 1) for k in range(n)]


def spatial_maps(ins, channel: int, per_row: int | None = None) -> go.Figure:
    """Input and each branch output as H x W heatmaps, the taps of each receptive field on top; a dilated branch's
    title counts its taps on the map (the rest read zero padding), so the maps alone show what the receptive-field
    row below spells out. ``per_row``: at most that many panels to a row (a phone's ``PHONE_PANELS``)."""
    names = list(ins.branches)
    pick = (lambda a: a.mean(axis=0)) if channel == MEAN else (lambda a: a[channel])
    fields = [ins.receptive_fields[n] for n in names]
    titles = [_stacked(ins.labels[n]) + (f"<br>{len(rf.positions)}/9 on map" if rf.kernel == 3 else "")
              for n, rf in zip(names, fields, strict=True)]
    fig, tall, at = _panels(len(names) + 1, per_row, SPATIAL_HEIGHT, THREE_LINE_TOP, ["input<br>map", *titles], 0.02)
    fig.add_trace(go.Heatmap(z=pick(ins.input), coloraxis="coloraxis2", hovertemplate=HOVER), *at[0])
    for j, name in enumerate(names, start=1):
        fig.add_trace(go.Heatmap(z=pick(ins.branches[name]), coloraxis="coloraxis", hovertemplate=HOVER), *at[j])
        rf = ins.receptive_fields[name]
        if rf.kernel:
            rows, cols = zip(*rf.positions, strict=True)
            fig.add_trace(go.Scatter(x=cols, y=rows, mode="markers", hoverinfo="skip", showlegend=False,
                                     marker={"symbol": "circle-open", "size": 12, "color": "white",
                                             "line": {"width": 2}}), *at[j])
        fig.add_trace(go.Scatter(x=[rf.centre[1]], y=[rf.centre[0]], mode="markers", hoverinfo="skip",
                                 showlegend=False, marker={"symbol": "x", "size": 9, "color": "red"}), *at[j])
    # fixed ranges, the map's cells and no more: a tap's marker on the edge widened one panel's autorange, so that
    # panel was drawn smaller than its neighbours (its square scaled into the same box)
    h, w = pick(ins.input).shape
    fig.update_yaxes(range=[h - 0.5, -0.5], showticklabels=False, showgrid=False, zeroline=False, ticks="")
    fig.update_xaxes(range=[-0.5, w - 0.5], showticklabels=False, showgrid=False, zeroline=False, ticks="")
    for j, (row, col) in enumerate(at, start=1):  # each panel square on its own x axis: one shared anchor left the
        fig.update_yaxes(scaleanchor=f"x{j}" if j > 1 else "x", row=row, col=col)  # panels wider than the first
    top = max(float(pick(ins.branches[n]).max()) for n in names)
    fig = sized(fig, tall, coloraxis={"colorscale": "Viridis", "cmin": 0, "cmax": top or 1.0,
                                     "colorbar": BRANCH_BAR},
                coloraxis2={"colorscale": "RdBu", "showscale": False})
    return fig.update_layout(margin_t=THREE_LINE_TOP)


def channel_maps(ins, narrow: bool = False) -> go.Figure:
    """For 1 x 1 maps: the input, then every branch output, as rows of C channel values; ``narrow`` (a phone): each
    row's name on two lines, where on one ("global pool + 1x1") it left the 64 channels ~107 px (audit r79)."""
    names = list(ins.branches)
    label = _stacked if narrow else (lambda text: text)
    fig = make_subplots(2, 1, row_heights=[0.17, 0.83], vertical_spacing=0.04, shared_xaxes=True)
    fig.add_trace(go.Heatmap(z=ins.input.reshape(1, -1), y=["input"], coloraxis="coloraxis2",
                             hovertemplate="input, channel %{x}: %{z:.4f}<extra></extra>"), 1, 1)
    z = np.stack([ins.branches[n].reshape(-1) for n in names])
    fig.add_trace(go.Heatmap(z=z, y=[label(ins.labels[n]) for n in names], coloraxis="coloraxis",
                             hovertemplate="%{y}, channel %{x}: %{z:.4f}<extra></extra>"), 2, 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="channel", row=2, col=1)
    tall = CHANNEL_MAPS_HEIGHT + (TWO_LINE_ROWS_PX if narrow else 0)
    return sized(fig, tall, coloraxis={"colorscale": "Viridis", "cmin": 0, "colorbar": BRANCH_BAR},
                 coloraxis2={"colorscale": "RdBu", "showscale": False}).update_layout(margin_t=NO_TITLE_TOP)


def _taps(rf) -> list[tuple[int, int]]:
    if rf.kernel != 3:
        return list(rf.positions)
    r0, c0 = rf.centre
    return [(r0 + dy * rf.dilation, c0 + dx * rf.dilation) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def receptive_fields(ins, per_row: int | None = None) -> go.Figure:
    """Each branch's taps around the centre: on the map (green) or in its zero padding (red x), all panels
    at one scale, so a map much smaller than the dilation looks as small as it is. ``per_row``: as
    ``spatial_maps``'."""
    _, h, w = ins.shape
    names = list(ins.branches)
    fields = [ins.receptive_fields[n] for n in names]
    titles = [f"{_stacked(ins.labels[n])}<br>{len(rf.positions)} in map,<br>{rf.outside} in padding"
              for n, rf in zip(names, fields, strict=True)]
    fig, tall, at = _panels(len(names), per_row, RECEPTIVE_HEIGHT, RECEPTIVE_TOP, titles, 0.03)
    span = max(max(abs(t[0] - (h - 1) / 2), abs(t[1] - (w - 1) / 2)) for rf in fields for t in _taps(rf) or [(0, 0)])
    half = max(span, h / 2, w / 2) + 1
    for j, (rf, (row, col)) in enumerate(zip(fields, at, strict=True), start=1):
        taps = _taps(rf)
        fig.add_shape(type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5, row=row, col=col,
                      fillcolor="rgba(160,160,160,0.55)", line={"color": "black", "width": 1})
        inside = [t for t in taps if 0 <= t[0] < h and 0 <= t[1] < w]
        outside = [t for t in taps if t not in inside]
        for pts, marker, what in ((inside, {"size": 8, "color": "#2ca02c"}, "in the map"),
                                  (outside, {"size": 9, "symbol": "x", "color": "#d62728"}, "in the zero padding")):
            if pts:
                fig.add_trace(go.Scatter(x=[p[1] for p in pts], y=[p[0] for p in pts], mode="markers", marker=marker,
                                         showlegend=False, hovertemplate=f"tap {what}: row %{{y}}, col %{{x}}"
                                                                         "<extra></extra>"), row, col)
        fig.update_xaxes(range=[(w - 1) / 2 - half, (w - 1) / 2 + half], row=row, col=col)
        fig.update_yaxes(range=[(h - 1) / 2 + half, (h - 1) / 2 - half], row=row, col=col,
                         scaleanchor="x" if j == 1 else f"x{j}")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    return sized(fig, tall, plot_bgcolor="rgba(255,235,235,0.6)").update_layout(margin_t=RECEPTIVE_TOP)


WHOLE_TICKS_UP_TO = 16  # columns: below this many, an axis ticks each one (a 1-channel map was ticked -0.5, 0, 0.5)


def map_axes(fig: go.Figure, h: int, w: int) -> None:
    """Axes that show an H x W map's cells and no more: x from -0.5 to W - 0.5, y from -0.5 to H - 0.5 with row 0
    on top, ticked at whole cells from 0 (every cell up to ``WHOLE_TICKS_UP_TO`` of them, every k-th beyond).
    Square cells come from a narrower or shorter plot (``constrain="domain"``), not from an axis stretched past the
    map: the output map's x axis ran to 4.5 with ticks 0, 2, 4 under a 4 x 4 map."""
    for axis, n, span in ((fig.update_xaxes, w, [-0.5, w - 0.5]), (fig.update_yaxes, h, [h - 0.5, -0.5])):
        axis(range=span, autorange=False, constrain="domain", tickmode="linear", tick0=0,
             dtick=-(-n // WHOLE_TICKS_UP_TO), showgrid=False, zeroline=False)
    fig.update_yaxes(scaleanchor="x")


def attention_map(z: np.ndarray, rows: list[str] | None = None) -> go.Figure:
    """Channel attention (branches x channels, with ``rows``) or spatial attention (H x W), in [0, 1], with its
    colour scale (the weights are read against 0 and 1)."""
    fig = go.Figure(go.Heatmap(z=z, y=rows, colorscale="Blues", zmin=0, zmax=1, showscale=True,
                               colorbar={"thickness": 10, "title": "weight"},
                               hovertemplate=("%{y}, channel %{x}: %{z:.4f}" if rows else "row %{y}, col %{x}: "
                                              "%{z:.4f}") + "<extra></extra>"))
    if not rows:
        map_axes(fig, *z.shape)
        return sized(fig, 230)
    fig.update_yaxes(autorange="reversed")
    if z.shape[1] <= WHOLE_TICKS_UP_TO:
        fig.update_xaxes(tickmode="linear", tick0=0, dtick=1)
    return sized(fig, 230, xaxis_title="channel of the branch")


def dream_output(out: np.ndarray) -> go.Figure:
    """DREAM's output: a bar per channel for a 1 x 1 map, else the channel mean as a heatmap."""
    if out.shape[1] * out.shape[2] == 1:
        return sized(go.Figure(go.Bar(y=out.reshape(-1))), 230, xaxis_title="channel")
    fig = go.Figure(_heat(out.mean(axis=0), showscale=True))
    map_axes(fig, *out.shape[1:])
    return sized(fig, 230)
