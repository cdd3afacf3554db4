"""One item's nearest neighbours in the other modality (docs/model.md section 4): the texts closest to
its picture and the pictures closest to its text, by cosine over all items, and where its own partner
ranks. The same geometry as ``analysis.alignment_metrics``' retrieval (unit rows, ties to the lower id),
for one query instead of all of them. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Neighbours:
    item: int
    query: str  # the modality of the query: "visual" (its picture) or "text"
    items: np.ndarray  # (k,) the nearest rows of the other modality, closest first
    cosines: np.ndarray  # (k,) their cosine to the query
    own_rank: int  # 1-based rank of the item's own row of the other modality
    own_cosine: float
    tied: int = 0  # other rows at the own row's cosine (to TIE_ATOL): its rank among them is only the id order


TIE_ATOL = 1e-6  # cosines this close are one value (float32 embeddings of an untrained model tie to ~1e-8)


NORM_FLOOR = 1e-12  # a row of zeros stays zeros (its cosine with anything 0), not NaN


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x``'s rows scaled to length 1 in float64 (the cosine geometry of the retrieval numbers and the maps)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), NORM_FLOOR)


def cross_modal_neighbours(visual: np.ndarray, text: np.ndarray, item: int, k: int = 5,
                           query: str = "visual") -> Neighbours:
    """The ``k`` rows of the other modality nearest to ``item``'s ``query`` row (``visual`` and ``text``:
    (n_items, d) with matched rows, one width)."""
    if np.shape(visual) != np.shape(text) or np.ndim(visual) != 2:
        raise ValueError(f"visual and text must be (n_items, d) arrays of one shape, got {np.shape(visual)} and "
                         f"{np.shape(text)}")
    if query not in ("visual", "text"):
        raise ValueError(f"query must be 'visual' or 'text', got {query!r}")
    n = len(visual)
    if not 0 <= int(item) < n:
        raise ValueError(f"item {item} is outside 0..{n - 1}")
    item = int(item)
    q, other = (visual, text) if query == "visual" else (text, visual)
    sims = unit_rows(other) @ unit_rows(q[item : item + 1])[0]
    order = np.lexsort((np.arange(n), -sims))  # highest cosine first, ties to the lower id
    own_rank = int(np.flatnonzero(order == item)[0]) + 1
    top = order[: max(0, min(int(k), n))]
    tied = int(np.count_nonzero(np.abs(sims - sims[item]) <= TIE_ATOL)) - 1
    return Neighbours(item=item, query=query, items=top.astype(np.int64), cosines=sims[top], own_rank=own_rank,
                      own_cosine=float(sims[item]), tied=tied)


__all__ = ["Neighbours", "cross_modal_neighbours", "unit_rows"]
