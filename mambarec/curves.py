"""Learning curves over seeds: the mean and band while every seed runs (``seed_band``, which the app's charts
use too), and small SVG plots of them for REPORT.md (no plotting library: a few lines of geometry).

One plot per (dataset, cell): a metric of the per-epoch history against the epoch, the mean over
seeds as a line and the band between the lowest and highest seed up to the first seed's last epoch,
each seed that ran on as a dotted line of its own, with the best epoch of each seed marked, so a
reader sees whether and where the runs converged. The text is deterministic (fixed rounding), so the
file's sha256 in the manifest is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

WIDTH, HEIGHT = 360, 170
MARGIN = {"left": 46, "right": 10, "top": 22, "bottom": 28}
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
TICKS = 4
CHAR_WIDTH = 5.6  # pixels a character of the 10 px sans-serif legend takes, about (for where the legend fits)


@dataclass(frozen=True)
class SeedBand:
    """A metric over seeds per epoch, up to ``common``, the last epoch every seed ran: past it a mean and band
    were the survivors' alone (synthetic's `official`: one of five seeds from epoch 33 on, a band of zero width
    under a legend that said 5 seeds; rehearsal r53)."""

    common: float  # the last epoch that every seed ran (NaN: no value at all)
    epochs: np.ndarray  # the epochs up to it, ascending
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def seed_band(seed, epoch, value) -> SeedBand:
    """``SeedBand`` of a long-form curve: one (seed, epoch, value) per row; rows without a finite value are left
    out (an epoch not evaluated)."""
    seed, epoch, value = (np.asarray(a) for a in (seed, epoch, value))
    ok = np.isfinite(value.astype(float))
    seed, epoch, value = seed[ok], epoch[ok].astype(float), value[ok].astype(float)
    if value.size == 0:
        empty = np.zeros(0)
        return SeedBand(float("nan"), empty, empty, empty, empty)
    seeds, which = np.unique(seed, return_inverse=True)
    last = np.full(len(seeds), -np.inf)
    np.maximum.at(last, which, epoch)
    common = float(last.min())
    keep = epoch <= common
    epochs, at = np.unique(epoch[keep], return_inverse=True)
    counts = np.bincount(at, minlength=len(epochs))
    mean = np.bincount(at, weights=value[keep], minlength=len(epochs)) / counts
    low, high = np.full(len(epochs), np.inf), np.full(len(epochs), -np.inf)
    np.minimum.at(low, at, value[keep])
    np.maximum.at(high, at, value[keep])
    return SeedBand(common, epochs, mean, low, high)


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
        band = seed_band(np.repeat(np.arange(len(values)), len(epochs)), np.tile(epochs, len(values)), values.ravel())
        if len(values) > 1:
            upper = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(band.epochs, band.high, strict=True))
            lower = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(band.epochs[::-1], band.low[::-1],
                                                                          strict=True))
            parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" fill-opacity="0.18" stroke="none"/>')
        line = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(band.epochs, band.mean, strict=True))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        mean_at = dict(zip(band.epochs.astype(int).tolist(), band.mean, strict=True))
        for row in values:  # each seed that ran past the mean's end: a dotted line of its own from there
            on = np.isfinite(row) & (epochs >= band.common)
            if on.sum() > 1:
                dots = " ".join(f"{_fmt(x(e))},{_fmt(y(v))}" for e, v in zip(epochs[on], row[on], strict=True))
                parts.append(f'<polyline points="{dots}" fill="none" stroke="{colour}" stroke-width="1" '
                             'stroke-dasharray="2,2"/>')
        bests = (best_epochs or {}).get(label, [])
        for i, best in enumerate(bests):  # on the mean while it runs, past it on the seed's own line
            seed_row = values[i] if len(bests) == len(values) else None
            at = mean_at.get(best, seed_row[best - 1] if seed_row is not None and 1 <= best <= len(seed_row)
                             else np.nan)
            if np.isfinite(at):
                parts.append(f'<circle cx="{_fmt(x(best))}" cy="{_fmt(y(at))}" r="2.5" fill="{colour}"/>')
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


__all__ = ["learning_curve_svg", "seed_band", "SeedBand"]
