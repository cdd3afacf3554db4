"""Property tests of the MMRec reader: valid tables round-trip, every corruption is a DatasetError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mambarec.data.dataset import DatasetError
from mambarec.data.mmrec import SPLIT_LABELS, load_mmrec_folder, write_mmrec_folder

SETTINGS = settings(max_examples=30, deadline=None)
CORRUPTIONS = ("drop_item", "truncate_features", "non_finite_cell", "tests_to_train", "huge_id",
               "negative_id", "bad_label", "float_id", "repeat_pair", "pair_in_two_splits")


@st.composite
def mmrec_tables(draw) -> dict:
    """A small valid folder's content: contiguous ids, >= 1 train and >= 1 test row, finite features."""
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(2, 8))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n_users * n_items, max_size=n_users * n_items)))
    mask[0] = mask[-1] = True  # at least two distinct cells
    pairs = np.argwhere(mask.reshape(n_users, n_items)).astype(np.int64)
    pairs = pairs[np.array(draw(st.permutations(range(len(pairs)))), dtype=np.int64)]
    pairs = np.stack([np.unique(pairs[:, k], return_inverse=True)[1].ravel() for k in (0, 1)], axis=1)
    labels = np.array(draw(st.lists(st.integers(0, 2), min_size=len(pairs), max_size=len(pairs))))
    labels[0], labels[1] = 0, 2
    n_items = int(pairs[:, 1].max()) + 1
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e4]))
    dims = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    items = None
    if draw(st.booleans()):
        words = st.text("abcdefghij -\t\"',;", max_size=8)
        items = pd.DataFrame({
            "itemID": np.arange(n_items),
            "title": [f"Title {draw(words)}" for _ in range(n_items)],
        })
    return {
        "inter": pd.DataFrame({"userID": pairs[:, 0], "itemID": pairs[:, 1], "x_label": labels}),
        "visual": (scale * rng.standard_normal((n_items, dims[0]))).astype(np.float32),
        "text": (scale * rng.standard_normal((n_items, dims[1]))).astype(np.float32),
        "items": items,
    }


def write(folder: Path, table: dict) -> Path:
    return write_mmrec_folder(folder, "t", table["inter"], table["visual"], table["text"], table["items"])


@SETTINGS
@given(table=mmrec_tables())
def test_valid_tables_round_trip(table):
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_mmrec_folder(write(Path(tmp) / "t", table))
    inter = table["inter"]
    for split, label in (("train", 0), ("valid", 1), ("test", 2)):
        expected = inter.loc[inter["x_label"] == label, ["userID", "itemID"]].to_numpy(np.int64)
        np.testing.assert_array_equal(getattr(ds, split), expected.reshape(-1, 2))
    np.testing.assert_array_equal(ds.visual, table["visual"])
    np.testing.assert_array_equal(ds.text, table["text"])
    assert (ds.n_users, ds.n_items) == (inter["userID"].max() + 1, inter["itemID"].max() + 1)
    if table["items"] is None:
        assert ds.items is None
    else:
        pd.testing.assert_frame_equal(ds.items, table["items"])


def corrupt(table: dict, kind: str, data) -> dict:
    """Return a copy of ``table`` with one defect that the reader must reject."""
    inter = table["inter"].copy()
    visual, text = table["visual"].copy(), table["text"].copy()
    if kind == "drop_item":  # below the max id: a gap; the max id: features one row too many
        inter = inter[inter["itemID"] != data.draw(st.sampled_from(sorted(inter["itemID"].unique())))]
    elif kind == "truncate_features":
        key = data.draw(st.sampled_from(["visual", "text"]))
        feat = visual if key == "visual" else text
        feat = feat[: data.draw(st.integers(0, len(feat) - 1))]
        visual, text = (feat, text) if key == "visual" else (visual, feat)
    elif kind == "non_finite_cell":
        feat = data.draw(st.sampled_from([visual, text]))
        row = data.draw(st.integers(0, feat.shape[0] - 1))
        col = data.draw(st.integers(0, feat.shape[1] - 1))
        feat[row, col] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "tests_to_train":
        inter.loc[inter["x_label"] == 2, "x_label"] = 0
    elif kind in ("repeat_pair", "pair_in_two_splits"):  # a test item also in train could never be hit (masked)
        row = inter.iloc[[data.draw(st.integers(0, len(inter) - 1))]].copy()
        if kind == "pair_in_two_splits":
            row["x_label"] = data.draw(st.sampled_from([x for x in (0, 1, 2) if x != int(row["x_label"].iloc[0])]))
        inter = pd.concat([inter, row], ignore_index=True)
    else:
        column = data.draw(st.sampled_from(["userID", "itemID", "x_label"]))
        row = data.draw(st.integers(0, len(inter) - 1))
        value = {"huge_id": 10**12, "negative_id": -1, "bad_label": 7, "float_id": 0.5}[kind]
        inter[column] = inter[column].astype(object)
        inter.loc[inter.index[row], column] = value
    return {"inter": inter, "visual": visual, "text": text, "items": table["items"]}


@SETTINGS
@given(table=mmrec_tables(), kind=st.sampled_from(CORRUPTIONS), data=st.data())
def test_corruptions_always_raise_dataset_error(table, kind, data):
    bad = corrupt(table, kind, data)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp) / "t", bad)
        with pytest.raises(DatasetError):
            load_mmrec_folder(folder)


@SETTINGS
@given(table=mmrec_tables(), cut=st.integers(0, 200))
def test_truncated_files_raise_dataset_error_or_load(table, cut):
    """A feature file cut short at any byte is a DatasetError; an interaction file cut short either is one
    or parses into the rows before the cut (nothing invented), with a feature row per item."""
    inter = table["inter"]
    original = set(zip(*(inter[c].astype(int) for c in ("userID", "itemID", "x_label")), strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp) / "t", table)
        for path in (folder / "t.inter", folder / "image_feat.npy"):
            raw = path.read_bytes()
            path.write_bytes(raw[: min(cut, len(raw) - 1)])
            if path.suffix == ".npy":
                with pytest.raises(DatasetError):
                    load_mmrec_folder(folder)
            else:
                try:
                    ds = load_mmrec_folder(folder)
                except DatasetError:
                    pass
                else:
                    loaded = {(int(u), int(i), SPLIT_LABELS[split])
                              for split in SPLIT_LABELS for u, i in getattr(ds, split)}
                    assert loaded <= original
                    assert ds.visual.shape[0] == ds.text.shape[0] == ds.n_items
            path.write_bytes(raw)
