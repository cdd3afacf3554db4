"""Tiny in-memory data for fast model tests (a dozen users, a few dozen items, small dims)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mambarec.data.dataset import Dataset
from mambarec.data.mmrec import SPLIT_LABELS


def tiny_dataset(seed: int = 0, n_users: int = 12, n_items: int = 30, visual_dim: int = 128,
                 text_dim: int = 48) -> Dataset:
    rng = np.random.default_rng(seed)
    pairs = set()
    for u in range(n_users):
        for i in rng.choice(n_items, size=8, replace=False):
            pairs.add((u, int(i)))
    for i in range(n_items):  # every item appears at least once
        pairs.add((int(rng.integers(n_users)), i))
    pairs = np.array(sorted(pairs), dtype=np.int64)
    label = np.zeros(len(pairs), dtype=np.int64)
    for u in range(n_users):
        idx = np.nonzero(pairs[:, 0] == u)[0]
        label[idx[-1]] = 2
        label[idx[-2]] = 1
    factors = rng.normal(size=(n_items, 4))
    visual = (factors @ rng.normal(size=(4, visual_dim)) + rng.normal(size=(n_items, visual_dim))).astype(np.float32)
    text = (factors @ rng.normal(size=(4, text_dim)) + 3.0).astype(np.float32)
    return Dataset(name="tiny", n_users=n_users, n_items=n_items, train=pairs[label == 0],
                   valid=pairs[label == 1], test=pairs[label == 2], visual=visual, text=text, source="tiny")


def inter_frame(ds: Dataset) -> pd.DataFrame:
    """The dataset's splits as one MMRec interaction table, train then valid then test."""
    parts = [
        pd.DataFrame({"userID": pairs[:, 0], "itemID": pairs[:, 1], "x_label": SPLIT_LABELS[split]})
        for split, pairs in (("train", ds.train), ("valid", ds.valid), ("test", ds.test))
    ]
    return pd.concat(parts, ignore_index=True)
