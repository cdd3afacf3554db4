"""MMRec folders (docs/protocol.md sections 1 and 2): write/load round trip, and a clear DatasetError per defect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mambarec.data import DatasetError, load_dataset
from mambarec.data.mmrec import load_mmrec_folder, write_mmrec_folder
from mambarec.data.synthetic import make_synthetic
from tests.tiny import inter_frame

HEADER = "userID\titemID\trating\ttimestamp\tx_label\n"


@pytest.fixture
def folder(tmp_path) -> Path:
    """A tiny valid folder: 3 users, 4 items, each user with train and test rows."""
    inter = pd.DataFrame({
        "userID": [0, 0, 0, 1, 1, 1, 2, 2],
        "itemID": [0, 1, 2, 1, 3, 0, 2, 3],
        "x_label": [0, 1, 2, 0, 0, 2, 0, 2],
    })
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"itemID": range(4), "title": ["A b", "C d", "E f", "G h"]})
    return write_mmrec_folder(tmp_path / "tiny", "tiny", inter, rng.random((4, 6)), rng.random((4, 3)), items)


def expect_error(folder: Path, *fragments: str) -> str:
    with pytest.raises(DatasetError) as info:
        load_mmrec_folder(folder)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def write_inter(folder: Path, text: str) -> None:
    (folder / "tiny.inter").write_text(text)


def test_tiny_folder_loads(folder):
    ds = load_mmrec_folder(folder)
    assert (ds.n_users, ds.n_items) == (3, 4)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (4, 1, 3)
    assert ds.titles() == ["A b", "C d", "E f", "G h"]


def test_synthetic_round_trips_through_mmrec_folder(tmp_path):
    ds = make_synthetic(seed=5, n_users=150, n_items=100)
    write_mmrec_folder(tmp_path / "syn", "syn", inter_frame(ds), ds.visual, ds.text, ds.items)
    back = load_mmrec_folder(tmp_path / "syn")
    assert (back.n_users, back.n_items) == (ds.n_users, ds.n_items)
    for name in ("train", "valid", "test", "visual", "text"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))
    assert back.fingerprint() == ds.fingerprint()
    pd.testing.assert_frame_equal(back.items, ds.items)
    assert back.name == "syn" and back.source == str(tmp_path / "syn")


def test_load_dataset_resolves_a_folder_path(folder):
    assert load_dataset(str(folder)).fingerprint() == load_mmrec_folder(folder).fingerprint()


def test_unknown_dataset_name_lists_what_is_available(tmp_path):
    with pytest.raises(DatasetError, match="not found.*synthetic"):
        load_dataset("no-such-dataset", data_dir=tmp_path)


def test_not_a_folder(tmp_path):
    expect_error(tmp_path / "absent", "absent", "not a folder")


def test_missing_inter(folder):
    (folder / "tiny.inter").unlink()
    expect_error(folder, str(folder), "no <name>.inter file found")


@pytest.mark.parametrize("name", ["image_feat.npy", "text_feat.npy"])
def test_missing_feature_file(folder, name):
    (folder / name).unlink()
    expect_error(folder, name, "file not found")


def test_missing_column(folder):
    write_inter(folder, "userID\titemID\trating\ttimestamp\n0\t0\t0\t0\n")
    expect_error(folder, "tiny.inter", "missing column", "x_label")


def test_comma_separated_inter_is_a_missing_column_error(folder):
    write_inter(folder, "userID,itemID,rating,timestamp,x_label\n0,0,0,0,0\n")
    expect_error(folder, "tiny.inter", "missing column", "tab-separated")


def test_empty_inter_file(folder):
    write_inter(folder, "")
    expect_error(folder, "tiny.inter", "the file is empty")


def test_header_only_inter_file(folder):
    write_inter(folder, HEADER)
    expect_error(folder, "tiny.inter", "header but no interactions")


@pytest.mark.parametrize("row, column", [("a\t0\t0\t0\t0", "userID"), ("0\t1.5\t0\t0\t0", "itemID"),
                                         ("0\t0\t0\t0\t", "x_label")])
def test_non_integer_ids(folder, row, column):
    write_inter(folder, HEADER + "0\t0\t0\t0\t0\n0\t1\t0\t0\t2\n" + row + "\n")
    expect_error(folder, "tiny.inter", f"column {column} must hold integers")


def test_x_label_out_of_range(folder):
    write_inter(folder, HEADER + "0\t0\t0\t0\t0\n0\t1\t0\t0\t3\n")
    expect_error(folder, "tiny.inter", "x_label must be 0 (train), 1 (valid) or 2 (test)", "[3]")


def test_item_ids_not_contiguous(folder):
    write_inter(folder, HEADER + "0\t0\t0\t0\t0\n0\t2\t0\t0\t2\n1\t3\t0\t0\t0\n1\t0\t0\t0\t2\n")
    expect_error(folder, "tiny.inter", "itemID ids are not contiguous", "[1]")


def test_huge_stray_id_is_reported_not_allocated(folder):
    write_inter(folder, HEADER + "0\t0\t0\t0\t0\n0\t1000000000000\t0\t0\t2\n")
    expect_error(folder, "tiny.inter", "itemID ids are not contiguous", "[1, 2, 3, 4, 5]")


def test_negative_ids(folder):
    write_inter(folder, HEADER + "0\t0\t0\t0\t0\n-1\t1\t0\t0\t2\n")
    expect_error(folder, "tiny.inter", "userID has negative ids")


@pytest.mark.parametrize("name, rows", [("image_feat.npy", 3), ("text_feat.npy", 5)])
def test_feature_rows_differ_from_item_count(folder, name, rows):
    np.save(folder / name, np.ones((rows, 2), dtype=np.float32))
    expect_error(folder, name, f"have {rows} rows", "4 items")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["image_feat.npy", "text_feat.npy"])
def test_non_finite_features(folder, name, value):
    feat = np.load(folder / name)
    feat[2, 1] = value
    np.save(folder / name, feat)
    expect_error(folder, name, "NaN or inf", "[2]")


def test_one_dimensional_features(folder):
    np.save(folder / "text_feat.npy", np.ones(4, dtype=np.float32))
    expect_error(folder, "text_feat.npy", "2-D")


def test_no_test_interactions(folder):
    inter = pd.read_csv(folder / "tiny.inter", sep="\t")
    inter.loc[inter["x_label"] == 2, "x_label"] = 0
    inter.to_csv(folder / "tiny.inter", sep="\t", index=False)
    expect_error(folder, str(folder), "no test interactions (x_label 2)")


def test_no_train_interactions(folder):
    inter = pd.read_csv(folder / "tiny.inter", sep="\t")
    inter.loc[inter["x_label"] == 0, "x_label"] = 1
    inter.to_csv(folder / "tiny.inter", sep="\t", index=False)
    expect_error(folder, str(folder), "no training interactions")


@pytest.mark.parametrize("content", [b"not an array\n", b"", b"\x93NUMPY garbage", bytes(range(256)) * 20])
def test_non_npy_file_named_image_feat(folder, content):
    """Random bytes made numpy advise "you can load it unsafely using allow_pickle": advice to unpickle a file."""
    (folder / "image_feat.npy").write_bytes(content)
    assert "pickle" not in expect_error(folder, "image_feat.npy", "not a readable .npy array")


def test_npz_archive_named_image_feat(folder):
    with open(folder / "image_feat.npy", "wb") as fh:
        np.savez(fh, feat=np.ones((4, 2)))
    expect_error(folder, "image_feat.npy", ".npz archive")


def test_non_numeric_features(folder):
    np.save(folder / "text_feat.npy", np.array([["a"]] * 4))
    expect_error(folder, "text_feat.npy", "must be numeric")


def test_items_tsv_without_item_id(folder):
    (folder / "items.tsv").write_text("id\ttitle\n0\ta\n1\tb\n2\tc\n3\td\n")
    expect_error(folder, "items.tsv", "needs an itemID column")


def test_items_tsv_with_wrong_rows(folder):
    (folder / "items.tsv").write_text("itemID\ttitle\n0\ta\n1\tb\n1\tc\n3\td\n")
    expect_error(folder, "items.tsv", "one row per itemID 0..3")


@pytest.mark.parametrize("content", [b"", b"itemID\ttitle\n0\t\xe9\xff\n"])
def test_unreadable_items_tsv(folder, content):
    (folder / "items.tsv").write_bytes(content)
    expect_error(folder, "items.tsv", "cannot parse item metadata")


def test_rebuilding_a_folder_that_fails_midway_leaves_the_old_build_whole(folder, monkeypatch):
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    inter = pd.DataFrame({"userID": [0, 0, 1, 1], "itemID": [0, 1, 0, 1], "x_label": [0, 2, 0, 2]})
    real_save = np.save

    def fail_on_text(path, array):
        if "text_feat" in str(path):
            raise OSError("disk full")
        return real_save(path, array)

    monkeypatch.setattr(np, "save", fail_on_text)
    with pytest.raises(OSError, match="disk full"):  # the interactions and image features were written already
        write_mmrec_folder(folder, "tiny", inter, np.zeros((2, 6)), np.zeros((2, 3)))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # no new file beside old ones, no temp
    monkeypatch.setattr(np, "save", real_save)
    write_mmrec_folder(folder, "tiny", inter, np.zeros((2, 6)), np.zeros((2, 3)))  # no items this time
    assert sorted(p.name for p in folder.iterdir()) == ["image_feat.npy", "text_feat.npy", "tiny.inter"]
    assert load_mmrec_folder(folder).n_items == 2


def test_two_interaction_files_and_none_named_after_the_folder_are_refused(folder):
    """The first one alphabetically was read without a word."""
    (folder / "tiny.inter").rename(folder / "b.inter")
    (folder / "a.inter").write_text((folder / "b.inter").read_text())
    expect_error(folder, "2 .inter files (a.inter, b.inter)", f"{folder.name}.inter")


def test_a_data_directory_one_level_off_says_where_the_dataset_is(folder, tmp_path):
    """`--data-dir .../ml100k` (the dataset itself) is the likeliest slip, and a missing data directory was not
    called missing (audit r59)."""
    import shutil

    data = tmp_path / "top" / "data"
    shutil.copytree(folder, data / "tiny")
    with pytest.raises(DatasetError, match=rf"data directory {data / 'tiny'} is the tiny dataset itself: pass its "
                                           rf"parent \({data}\) as --data-dir"):
        load_dataset("tiny", data_dir=data / "tiny")
    with pytest.raises(DatasetError, match=rf"tiny is one level down, in {data}: pass that folder as --data-dir"):
        load_dataset("tiny", data_dir=data.parent)
    with pytest.raises(DatasetError, match=rf"data directory {tmp_path / 'nowhere'}, which does not exist"):
        load_dataset("tiny", data_dir=tmp_path / "nowhere")
    assert load_dataset("tiny", data_dir=data).n_items == 4
