"""Small learning-curve plots as SVG, for REPORT.md (no plotting library: a few lines of geometry).

One plot per (dataset, cell): a metric of the per-epoch history against the epoch, the mean over
seeds as a line and the band between the lowest and highest seed, with the best epoch of each
seed marked, so a reader sees whether and where the runs converged. The text is deterministic
(fixed rounding), so the file's sha256 in the manifest is stable.
"""

from __future__ import annotations

from html import escape

import numpy as np

WIDTH, HEIGHT = 360, 170
MARGIN = {"left": 46, "right": 10, "top": 22, "bottom": 28}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
TICKS = 4
CHAR_WIDTH = 5.6  # pixels a character of the 10 px sans-serif legend takes, about (for where the legend fits)


def _series(histories: list[list[dict]], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values[seed, epoch]) padded with NaN where a seed stopped earlier."""
    length = max((len(h) for h in histories), default=0)
    values = np.full((len(histories), length), np.nan)
    for i, h in enumerate(histories):
        values[i, : len(h)] = [row.get(metric, np.nan) for row in h]
    epochs = np.arange(1, length + 1)
    return epochs, values


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def learning_curve_svg(curves: dict[str, list[list[dict]]], metric: str = "valid/Recall@20", title: str = "",
                       best_epochs: dict[str, list[int]] | None = None) -> str:
    """An SVG of ``metric`` over epochs for each label in ``curves`` (label -> one history per seed)."""
    prepared = {label: _series(h, metric) for label, h in curves.items() if h}
    finite = [v[np.isfinite(v)] for _, v in prepared.values()]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    if finite.size == 0:
        return ""
    lo, hi = float(finite.min()), float(finite.max())
    pad = (hi - lo) * 0.08 or max(abs(hi), 1e-3) * 0.08
    lo, hi = max(0.0, lo - pad), hi + pad
    max_epoch = max(len(e) for e, _ in prepared.values())
    plot_w = WIDTH - MARGIN["left"] - MARGIN["right"]
    plot_h = HEIGHT - MARGIN["top"] - MARGIN["bottom"]

    def x(epoch: float) -> float:
        return MARGIN["left"] + plot_w * (epoch - 1) / max(max_epoch - 1, 1)

    def y(value: float) -> float:
        return MARGIN["top"] + plot_h * (1 - (value - lo) / (hi - lo))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="10">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{MARGIN["left"]}" y="14" font-size="11">{escape(title)}</text>']
    for i in range(TICKS + 1):  # y grid and labels
        value = lo + (hi - lo) * i / TICKS
        parts.append(f'<line x1="{MARGIN["left"]}" x2="{WIDTH - MARGIN["right"]}" y1="{_fmt(y(value))}" '
                     f'y2="{_fmt(y(value))}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{MARGIN["left"] - 4}" y="{_fmt(y(value) + 3)}" text-anchor="end">{value:.3f}</text>')
    for i in range(TICKS + 1):  # x labels
        epoch = 1 + (max_epoch - 1) * i / TICKS
        parts.append(f'<text x="{_fmt(x(epoch))}" y="{HEIGHT - 12}" text-anchor="middle">{round(epoch)}</text>')
    parts.append(f'<text x="{WIDTH - MARGIN["right"]}" y="{HEIGHT - 2}" text-anchor="end">epoch · '
                 f'{escape(metric)}</text>')
    for colour, (label, (epochs, values)) in zip(COLOURS, prepared.items(), strict=False):
        with np.errstate(all="ignore"):
            low, high, mean = np.nanmin(values, 0), np.nanmax(values, 0), np.nanmean(values, 0)
        ok = np.isfinite(mean)
        if len(values) > 1:
            upper = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(epochs[ok], high[ok], strict=True))
            lower = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(epochs[ok][::-1], low[ok][::-1],
                                                                          strict=True))
            parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.18" stroke="none"/>')
        line = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(epochs[ok], mean[ok], strict=True))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for best in (best_epochs or {}).get(label, []):
            if 1 <= best <= len(mean) and np.isfinite(mean[best - 1]):
                parts.append(f'<circle cx="{_fmt(x(best))}" cy="{_fmt(y(mean[best - 1]))}" r="2.5" '
                             f'fill="{colour}"/>')
    # The legend goes in the right-hand corner (top or bottom) that fewer curve points fall in, so it covers
    # no plateau; a white halo keeps it readable where a line still crosses it.
    shown = list(zip(COLOURS, prepared, strict=False))
    legend = [f'{label} ({len(curves[label])} seed{"s" if len(curves[label]) != 1 else ""})' for _, label in shown]
    box_w, box_h = CHAR_WIDTH * max(map(len, legend)), 12 * len(shown) + 4
    points = [(x(e), y(v)) for epochs, values in prepared.values() for row in values
              for e, v in zip(epochs, row, strict=True) if np.isfinite(v)]
    right = WIDTH - MARGIN["right"]
    top_y, bottom_y = MARGIN["top"], HEIGHT - MARGIN["bottom"] - box_h

    def crowd(y0: float) -> int:
        return sum(1 for px, py in points if px >= right - box_w and y0 <= py <= y0 + box_h)

    first_y = (bottom_y if crowd(bottom_y) < crowd(top_y) else top_y) + 10
    for i, ((colour, _), text) in enumerate(zip(shown, legend, strict=True)):
        parts.append(f'<text x="{WIDTH - MARGIN["right"] - 4}" y="{first_y + 12 * i}" text-anchor="end" '
                     f'fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke">{escape(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


__all__ = ["learning_curve_svg"]
