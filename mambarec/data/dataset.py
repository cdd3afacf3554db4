"""The one ``Dataset`` type every source (MMRec folders, ml100k, synthetic, built) loads into.

Interactions are integer arrays of (user, item) pairs per split (docs/protocol.md section 1: x_label 0
train, 1 valid, 2 test); features are float32 matrices with one row per item id.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mambarec.errors import UserError

# A feature row's largest length: its squared length must stay a float32 (~3.4e38), or the cosine graphs divide
# by an infinite norm and see a row of zeros.
FEATURE_NORM_MAX = 1e19


class DatasetError(UserError):
    """A dataset file or array is wrong; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    name: str
    n_users: int
    n_items: int
    train: np.ndarray  # (n_train, 2) int64 user, item
    valid: np.ndarray  # (n_valid, 2)
    test: np.ndarray  # (n_test, 2)
    visual: np.ndarray  # (n_items, D_V) float32
    text: np.ndarray  # (n_items, D_T) float32
    items: pd.DataFrame | None = None  # optional metadata, one row per itemID (title, category, ...)
    source: str = ""  # where it came from (a folder, or "synthetic")
    image_dir: Path | None = None  # optional folder of item images (ml100k posters)
    extras: dict = field(default_factory=dict)  # ground truth of generated data, etc.

    def __post_init__(self) -> None:
        validate(self)

    # ---- sparse views -------------------------------------------------------------------
    def matrix(self, split: str) -> sp.csr_matrix:
        """User x item 0/1 matrix of one split: 'train', 'valid' or 'test'."""
        pairs = {"train": self.train, "valid": self.valid, "test": self.test}[split]
        data = np.ones(len(pairs), dtype=np.float32)
        m = sp.csr_matrix((data, (pairs[:, 0], pairs[:, 1])), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def item_popularity(self) -> np.ndarray:
        return np.bincount(self.train[:, 1], minlength=self.n_items)

    def fingerprint(self) -> str:
        """A stable hash of the interactions and features: checkpoints refuse other data."""
        h = hashlib.sha256()
        h.update(f"{self.n_users}x{self.n_items}".encode())
        for arr in (self.train, self.valid, self.test):
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        for arr in (self.visual, self.text):
            h.update(str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def summary(self) -> dict:
        n = len(self.train) + len(self.valid) + len(self.test)
        return {
            "name": self.name, "users": self.n_users, "items": self.n_items, "interactions": n,
            "train": len(self.train), "valid": len(self.valid), "test": len(self.test),
            "density": n / float(self.n_users * self.n_items), "visual_dim": self.visual.shape[1],
            "text_dim": self.text.shape[1], "has_metadata": self.items is not None,
            "has_images": self.image_dir is not None,
        }

    def titles(self) -> list[str]:
        if self.items is not None and "title" in self.items.columns:
            return [str(t) for t in self.items["title"].tolist()]
        return [f"item {i}" for i in range(self.n_items)]

    def categories(self) -> list[str]:
        if self.items is not None and "category" in self.items.columns:
            return [str(c) for c in self.items["category"].tolist()]
        return ["-"] * self.n_items


def _check_pairs_once(ds: Dataset, where: str) -> None:
    """Each (user, item) pair at most once, in one split. A test pair also in train can never be hit (training
    items are masked at evaluation), so such data scored Recall 0 on it silently; a pair twice in one split counts
    twice in its loss and its split's size."""
    splits = {"train": ds.train, "valid": ds.valid, "test": ds.test}
    codes = {s: p[:, 0].astype(np.int64) * ds.n_items + p[:, 1] for s, p in splits.items()}

    def first(found: np.ndarray) -> str:
        return ", ".join(f"(user {c // ds.n_items}, item {c % ds.n_items})" for c in found[:3].tolist())

    distinct = {}
    for split, c in codes.items():
        distinct[split], counts = np.unique(c, return_counts=True)
        if (counts > 1).any():
            raise DatasetError(f"{where}: {int((counts > 1).sum())} (user, item) pair(s) occur more than once in "
                               f"{split}, first {first(distinct[split][counts > 1])}; keep one row per pair (e.g. the "
                               "latest)")
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        both = np.intersect1d(distinct[a], distinct[b], assume_unique=True)  # sorted once above, not again
        if len(both):
            raise DatasetError(f"{where}: {len(both)} (user, item) pair(s) are in both {a} and {b}, first "
                               f"{first(both)}; give each pair one x_label (an item seen in training is masked at "
                               "evaluation, so it could never be hit)")


def validate(ds: Dataset) -> None:
    """Check every invariant; raise DatasetError saying what is wrong and how to fix it."""
    where = ds.source or ds.name
    if ds.n_users <= 0 or ds.n_items <= 0:
        raise DatasetError(f"{where}: the dataset has no users or no items (empty interactions?); give it at "
                           "least one interaction per user, in its train part")
    for split, pairs in (("train", ds.train), ("valid", ds.valid), ("test", ds.test)):
        if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
            raise DatasetError(f"{where}: {split} interactions must be an (n, 2) integer array")
        if len(pairs) and (pairs.min() < 0 or pairs[:, 0].max() >= ds.n_users
                           or pairs[:, 1].max() >= ds.n_items):
            raise DatasetError(f"{where}: {split} interactions have ids outside 0..n_users-1 / 0..n_items-1")
    if len(ds.train) == 0:
        raise DatasetError(f"{where}: the split has no training interactions (x_label 0)")
    if len(ds.test) == 0:
        raise DatasetError(
            f"{where}: the split has no test interactions (x_label 2); re-split the data, e.g. with "
            "`python -m mambarec data build`"
        )
    _check_pairs_once(ds, where)
    for label, feat in (("visual (image_feat.npy)", ds.visual), ("text (text_feat.npy)", ds.text)):
        if feat.ndim != 2:
            raise DatasetError(f"{where}: {label} features must be a 2-D array, got shape {feat.shape}")
        if feat.shape[0] != ds.n_items:
            raise DatasetError(
                f"{where}: {label} features have {feat.shape[0]} rows but the interactions name "
                f"{ds.n_items} items; there must be one row per itemID 0..{ds.n_items - 1}"
            )
        if feat.shape[1] == 0:
            raise DatasetError(f"{where}: {label} features have zero columns; encode each item into a vector of "
                               "one or more numbers (docs/protocol.md section 1)")
        if not np.isfinite(feat).all():
            bad = np.unique(np.nonzero(~np.isfinite(feat))[0])
            raise DatasetError(
                f"{where}: {label} features contain NaN or inf in {len(bad)} row(s), first item ids "
                f"{bad[:5].tolist()}; re-encode those items or replace them (e.g. by the mean row)"
            )
        # in float32 a row's length can overflow (the k-NN graph would see zeros); the rows' lengths in float64 (a
        # full copy) only when the largest entry allows it
        if max(abs(float(feat.max())), abs(float(feat.min()))) * math.sqrt(feat.shape[1]) <= FEATURE_NORM_MAX:
            continue
        norms = np.sqrt(np.square(feat, dtype=np.float64).sum(axis=1))
        bad = np.nonzero(norms > FEATURE_NORM_MAX)[0]
        if len(bad):
            raise DatasetError(
                f"{where}: {label} features have {len(bad)} row(s) too long for float32 arithmetic (length "
                f"{norms.max():.3g}; first item ids {bad[:5].tolist()}); scale the features down (e.g. divide by "
                "their largest absolute value)")
    if ds.items is not None and len(ds.items) != ds.n_items:
        raise DatasetError(f"{where}: item metadata has {len(ds.items)} rows for {ds.n_items} items; give it one "
                           "row per itemID, or remove items.tsv (it only names the items)")
