"""Cold items in the synthetic data: new arrivals whose interactions mostly happen after the training cut.

A share of the catalogue is chosen at random (independently of content and popularity) after the
k-core filter and MMRec's split (docs/protocol.md section 2). Each chosen item keeps a uniform random 0, 1
or 2 (at most ``COLD_MAX_TRAIN``) of its training interactions; the others move to valid or test
(each with probability 1/2). Users still want cold items as much as before (their interactions were
drawn from the same preferences), so a model can only rank them from their content. A user left
with no training interaction gets one of the moved rows back, so that rare item keeps one more.

"Cold" as measured on any dataset: an item with at most ``COLD_MAX_TRAIN`` training interactions.
"""

from __future__ import annotations

import numpy as np

COLD_MAX_TRAIN = 2  # a cold item has at most this many training interactions
HELD_OUT_VALID_SHARE = 0.5  # a moved interaction goes to valid with this probability, else to test
TRAIN, VALID, TEST = 0, 1, 2  # MMRec's x_label values


def measured_cold_items(train: np.ndarray, n_items: int) -> np.ndarray:
    """Boolean mask of items with at most ``COLD_MAX_TRAIN`` training interactions."""
    return np.bincount(train[:, 1], minlength=n_items) <= COLD_MAX_TRAIN


def choose_cold_items(rng: np.random.Generator, n_items: int, cold_share: float) -> np.ndarray:
    """Boolean mask: round(cold_share * n_items) items chosen uniformly at random."""
    mask = np.zeros(n_items, dtype=bool)
    mask[rng.choice(n_items, size=int(round(cold_share * n_items)), replace=False)] = True
    return mask


def hold_out_cold_items(rng: np.random.Generator, pairs: np.ndarray, labels: np.ndarray,
                        cold: np.ndarray) -> np.ndarray:
    """New x_label per row of ``pairs`` (user, item): cold items' training rows beyond their budget move out."""
    labels = labels.copy()
    rows = np.flatnonzero((labels == TRAIN) & cold[pairs[:, 1]])
    if len(rows) == 0:
        return labels
    items = pairs[rows, 1]
    budget = np.zeros(len(cold), dtype=np.int64)
    budget[cold] = rng.integers(0, COLD_MAX_TRAIN + 1, size=int(cold.sum()))
    order = np.lexsort((rng.random(len(rows)), items))  # random order within each item
    rows, items = rows[order], items[order]
    first = np.searchsorted(items, items, side="left")
    rank = np.arange(len(rows)) - first  # 0, 1, 2, ... within each item
    moved = rows[rank >= budget[items]]
    labels[moved] = np.where(rng.random(len(moved)) < HELD_OUT_VALID_SHARE, VALID, TEST)
    # never leave a user without training interactions: give back their first moved row
    n_train = np.bincount(pairs[labels == TRAIN, 0], minlength=pairs[:, 0].max() + 1)
    stranded = moved[n_train[pairs[moved, 0]] == 0]
    _, first_of_user = np.unique(pairs[stranded, 0], return_index=True)
    labels[stranded[first_of_user]] = TRAIN
    return labels
