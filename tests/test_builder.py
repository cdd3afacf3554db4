"""The data builder: encoders against the shared ml100k features, the ml100k recipe, own catalogues."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mambarec.data.builder import build_catalogue, join_text, shuffle_split, sorted_ids
from mambarec.data.cli import add_data_commands
from mambarec.data.dataset import DatasetError
from mambarec.data.encoders import encode_images, encode_texts
from mambarec.data.mmrec import load_mmrec_folder, write_mmrec_folder
from mambarec.data.movielens import (
    GENRES,
    build_movielens,
    encode_movielens_items,
    movie_metadata,
    movielens_interactions,
    poster_paths,
    read_movies,
    split_udata,
)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---- ml100k: the recipe reproduces the shared folder -------------------------------------------
def test_encoders_match_shared_ml100k_features(ml100k_dir):
    meta = pd.read_csv(ml100k_dir / "items.tsv", sep="\t", keep_default_na=False)
    with_poster = meta.index[meta["has_poster"].astype(str) == "True"].to_numpy()
    rows = with_poster[np.linspace(0, len(with_poster) - 1, 20).astype(int)]
    movie_ids = meta.loc[rows, "movie_id"].tolist()
    text, visual = encode_movielens_items(ml100k_dir / "raw", movie_ids)
    assert text.shape == (20, 384) and visual.shape == (20, 1280)
    assert text.dtype == np.float32 and visual.dtype == np.float32
    shared_text = np.load(ml100k_dir / "text_feat.npy")[rows]
    shared_visual = np.load(ml100k_dir / "image_feat.npy")[rows]
    assert cosine(text, shared_text).min() >= 0.99
    assert cosine(visual, shared_visual).min() >= 0.99


def test_movielens_split_is_byte_identical_to_shared(ml100k_dir, tmp_path):
    inter, item_ids = movielens_interactions(ml100k_dir / "raw")
    n = len(item_ids)
    write_mmrec_folder(tmp_path, "ml100k", inter, np.zeros((n, 1)), np.zeros((n, 1)))
    assert (tmp_path / "ml100k.inter").read_bytes() == (ml100k_dir / "ml100k.inter").read_bytes()


def test_movielens_metadata_is_identical_to_shared(ml100k_dir, tmp_path):
    raw = ml100k_dir / "raw"
    _, item_ids = movielens_interactions(raw)
    notes = []
    movies = read_movies(raw, notes).loc[item_ids]
    # the shared items.csv lists 55 movies more than once, each time alike: the first rows are kept, as before, and
    # now said (audit r73 had seen only two of them, 56 and 72, dropped without a word)
    assert notes == [f"{raw / 'items.csv'}: 64 row(s) repeat the movie_id of an earlier row (55 id(s): 56, 72, 246, "
                     "266, 268, ...); the first row of each is kept, and the others are copies of it"]
    meta = movie_metadata(movies, [p is not None for p in poster_paths(raw, item_ids)])
    meta.to_csv(tmp_path / "items.tsv", sep="\t", index=False)
    assert (tmp_path / "items.tsv").read_bytes() == (ml100k_dir / "items.tsv").read_bytes()


def test_build_movielens_small(ml100k_dir, tmp_path):
    out = build_movielens(ml100k_dir / "raw", tmp_path / "ml", limit_items=30, progress=False)
    ds = load_mmrec_folder(out)
    shared_columns = pd.read_csv(ml100k_dir / "items.tsv", sep="\t", nrows=1).columns.tolist()
    assert ds.items.columns.tolist() == shared_columns
    assert ds.items["movie_id"].max() <= 30
    assert ds.text.shape == (ds.n_items, 384) and ds.visual.shape == (ds.n_items, 1280)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["items"] == ds.n_items and stats["users"] == ds.n_users


# ---- your own catalogue --------------------------------------------------------------------------
ITEMS = list("abcdefghij")
USERS = [str(u) for u in range(1, 12)]  # "10" and "11" must sort after "9"


def write_catalogue(root, with_images=True):
    """11 users x 7 items each over 10 items, plus a 2-interaction user and a 1-interaction item."""
    rows = [(u, ITEMS[(k + j) % 10], 1 + j % 5, 1000 * k + j) for k, u in enumerate(USERS) for j in range(7)]
    rows += [("99", "a", 3, 5), ("99", "b", 4, 6), ("5", "z", 2, 7)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    inter.to_csv(root / "ratings.tsv", sep="\t", index=False)
    table = pd.DataFrame({
        "id": [*ITEMS, "z"], "title": [f"Item {i}" for i in [*ITEMS, "z"]],
        "description": [f"A thing called {i}." if i != "c" else "" for i in [*ITEMS, "z"]],
        "category": ["red" if i < "f" else "blue" for i in [*ITEMS, "z"]],
    })
    table.to_csv(root / "items.csv", index=False)
    images = root / "images"
    images.mkdir(exist_ok=True)
    if with_images:
        for i, colour in (("a", (200, 30, 30)), ("c", (30, 200, 30)), ("e", (30, 30, 200))):
            Image.new("RGB", (16, 24), colour).save(images / f"{i}.png")
    return root / "ratings.tsv", root / "items.csv", images


def test_build_catalogue_roundtrip(tmp_path):
    inter_path, items_path, images = write_catalogue(tmp_path)
    out = build_catalogue(inter_path, items_path, tmp_path / "shop", image_dir=images,
                          text_columns=("title", "description"), image_pattern="{id}.png", progress=False)
    ds = load_mmrec_folder(out)
    assert (ds.n_users, ds.n_items) == (11, 10)
    assert ds.text.shape == (10, 384) and ds.visual.shape == (10, 1280)
    pairs = np.concatenate([ds.train, ds.valid, ds.test])
    assert len(pairs) == 77
    assert set(pairs[:, 0]) == set(range(11)) and set(pairs[:, 1]) == set(range(10))
    assert np.bincount(pairs[:, 0]).min() >= 5 and np.bincount(pairs[:, 1]).min() >= 5
    assert set(ds.test[:, 0]) == set(range(11)) and set(ds.valid[:, 0]) == set(range(11))
    assert ds.items["id"].tolist() == ITEMS and ds.items["has_image"].tolist() == [
        i in "ace" for i in ITEMS]
    assert ds.items.columns.tolist() == ["itemID", "id", "title", "description", "category", "has_image"]
    present = ds.items["has_image"].to_numpy()
    assert np.allclose(ds.visual[~present], ds.visual[present].mean(0), atol=1e-5)
    assert not np.allclose(ds.visual[0], ds.visual[2])
    assert np.allclose(ds.text[2], encode_texts(["Item c"], progress=False)[0], atol=1e-5)
    assert np.allclose(ds.text[0], encode_texts(["Item a. A thing called a."], progress=False)[0], atol=1e-5)
    # users re-indexed in numeric order of their ids: userID 9 is "10", whose first item is ITEMS[9]
    inter = pd.read_csv(out / "shop.inter", sep="\t")
    assert sorted(inter.loc[inter.userID == 9, "itemID"]) == sorted((9 + j) % 10 for j in range(7))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["items_without_image"] == 7 and stats["split"] == {"0": 55, "1": 11, "2": 11}


def test_build_catalogue_without_images_has_zero_visual(tmp_path):
    inter_path, items_path, _ = write_catalogue(tmp_path, with_images=False)
    out = build_catalogue(inter_path, items_path, tmp_path / "out", progress=False)
    ds = load_mmrec_folder(out)
    assert ds.visual.shape == (10, 1280) and not ds.visual.any()
    assert "category" in ds.items.columns and ds.categories()[0] == "red"


def test_encode_images_fills_missing_with_mean(tmp_path):
    for name, colour in (("x", (255, 0, 0)), ("y", (0, 0, 255))):
        Image.new("RGB", (30, 20), colour).save(tmp_path / f"{name}.png")
    feats = encode_images([tmp_path / "x.png", None, tmp_path / "y.png"], progress=False)
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    assert np.allclose(feats[1], feats[[0, 2]].mean(0))


def test_split_rule_and_helpers():
    inter = pd.DataFrame({"userID": np.repeat([0, 1], [12, 6]), "itemID": np.arange(18),
                          "rating": 0, "timestamp": 0})
    out = shuffle_split(inter, seed=2026)
    labels = out.groupby("userID")["x_label"].apply(list)
    assert labels[0] == [0] * 10 + [1, 2] and labels[1] == [0] * 4 + [1, 2]
    assert sorted(out["itemID"]) == list(range(18))
    assert sorted_ids(pd.Series(["10", "9", "2"])).tolist() == ["2", "9", "10"]
    assert sorted_ids(pd.Series(["b10", "b9"])).tolist() == ["b10", "b9"]
    assert join_text(["Title", "", "Ends here.", "tail"]) == "Title. Ends here. tail"


# ---- clear errors --------------------------------------------------------------------------------
def build(tmp_path, inter_path, items_path, **kw):
    return build_catalogue(inter_path, items_path, tmp_path / "out", progress=False, **kw)


def test_error_missing_files(tmp_path):
    inter_path, items_path, _ = write_catalogue(tmp_path)
    with pytest.raises(DatasetError, match=r"nope\.csv: interactions file not found"):
        build(tmp_path, tmp_path / "nope.csv", items_path)
    with pytest.raises(DatasetError, match=r"nope\.csv: item table file not found"):
        build(tmp_path, inter_path, tmp_path / "nope.csv")
    with pytest.raises(DatasetError, match="image folder not found"):
        build(tmp_path, inter_path, items_path, image_dir=tmp_path / "no_images")


def build_error(tmp_path, inter, items) -> DatasetError:
    with pytest.raises(DatasetError) as err:
        build(tmp_path, inter, items)
    return err.value


def test_error_missing_columns(tmp_path):
    inter_path, items_path, _ = write_catalogue(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match=r"bad\.csv: cannot find the user column.*found columns \['a', 'b'\]"):
        build(tmp_path, bad, items_path)
    with pytest.raises(DatasetError, match=r"no item column 'sku'.*--item-column"):
        build(tmp_path, inter_path, items_path, item_column="sku")
    with pytest.raises(DatasetError, match=r"text column\(s\) \['plot'\] not found; found columns \['id', "):
        build(tmp_path, inter_path, items_path, text_columns=("title", "plot"))
    with pytest.raises(DatasetError, match=r"bad\.csv: cannot find the item id column.*--id-column"):
        build(tmp_path, inter_path, bad)
    headless = tmp_path / "u.data"  # MovieLens' raw file: numbers from the first line on
    headless.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    with pytest.raises(DatasetError, match="the file seems to have no header row"):
        build(tmp_path, headless, items_path)
    assert "header" not in str(build_error(tmp_path, bad, items_path))  # named columns: no such guess


def test_error_empty_files(tmp_path):
    inter_path, items_path, _ = write_catalogue(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match=r"empty\.csv: the interactions file is empty"):
        build(tmp_path, empty, items_path)
    header_only = tmp_path / "header.tsv"
    header_only.write_text("user\titem\n")
    with pytest.raises(DatasetError, match=r"header\.tsv: the interactions file has a header .* but no rows"):
        build(tmp_path, header_only, items_path)
    with pytest.raises(DatasetError, match=r"empty\.csv: the item table file is empty"):
        build(tmp_path, inter_path, empty)


def test_error_unknown_items(tmp_path):
    inter_path, items_path, _ = write_catalogue(tmp_path)
    table = pd.read_csv(items_path, dtype=str, keep_default_na=False)
    table[~table["id"].isin(["b", "z"])].to_csv(items_path, index=False)
    with pytest.raises(DatasetError, match=r"2 item id\(s\) used in .*ratings\.tsv have no row in the item "
                                           r"table, e\.g\. \['b', 'z'\]"):
        build(tmp_path, inter_path, items_path)


def test_error_too_few_for_kcore(tmp_path):
    inter_path, items_path, _ = write_catalogue(tmp_path)
    with pytest.raises(DatasetError, match=r"no interactions survive the 8-core filter.*lower --k-core"):
        build(tmp_path, inter_path, items_path, k_core=8)
    with pytest.raises(DatasetError, match="k_core=1: use at least 3"):
        build(tmp_path, inter_path, items_path, k_core=1)


def test_error_bad_rating(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("user,item,rating\n1,a,five\n")
    _, items_path, _ = write_catalogue(tmp_path)
    with pytest.raises(DatasetError, match=r"r\.csv: column 'rating' must be numeric.*\['five'\]"):
        build(tmp_path, bad, items_path)


def test_error_movielens_raw_missing(tmp_path):
    with pytest.raises(DatasetError, match="raw ml100k folder not found"):
        build_movielens(tmp_path / "nothing", tmp_path / "out")
    with pytest.raises(DatasetError, match=r"items\.csv: items\.csv not found"):
        build_movielens(tmp_path, tmp_path / "out")


# ---- CLI -------------------------------------------------------------------------------------------
def parser():
    p = argparse.ArgumentParser(prog="mambarec")
    add_data_commands(p.add_subparsers(dest="command"))
    return p


def test_cli_build_prints_summary(tmp_path, capsys):
    inter_path, items_path, images = write_catalogue(tmp_path)
    args = parser().parse_args([
        "data", "build", "--interactions", str(inter_path), "--items", str(items_path),
        "--out", str(tmp_path / "cli"), "--image-dir", str(images), "--image-pattern", "{id}.png",
        "--text-columns", "title,description", "--no-progress",
    ])
    assert args.func(args) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("wrote ") and "11 users, 10 items, 77 interactions" in line
    assert "7 item(s) without an image" in line and "\n" not in line
    built = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cli").iterdir()}
    assert args.func(args) == 2  # the same --out again: refused, nothing rewritten
    assert "already holds a dataset" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cli").iterdir()} == built
    args.overwrite = True
    assert args.func(args) == 0 and capsys.readouterr().out.startswith("wrote ")


def test_cli_errors_and_movielens_flags(tmp_path, capsys):
    args = parser().parse_args(["data", "build", "--interactions", str(tmp_path / "x.csv"),
                                "--items", str(tmp_path / "y.csv"), "--out", str(tmp_path / "o")])
    assert args.func(args) == 2
    assert "x.csv: interactions file not found" in capsys.readouterr().err
    args = parser().parse_args(["data", "build-movielens", "--raw", str(tmp_path / "R"), "--out",
                                str(tmp_path / "O"), "--limit-items", "5"])
    assert args.limit_items == 5 and args.func(args) == 2
    assert "raw ml100k folder not found" in capsys.readouterr().err and not (tmp_path / "O").exists()
    # an --out that cannot be made: said in one line before any work, where a traceback came after the encoding
    for command in (["build", "--interactions", "x", "--items", "y"], ["build-movielens", "--raw", "R"]):
        args = parser().parse_args(["data", *command, "--out", "/proc/no-such/out"])
        assert args.func(args) == 2
        assert capsys.readouterr().err == ("error: /proc/no-such/out cannot be written (No such file or directory); "
                                           "choose another --out\n")


def test_bad_values_a_build_could_only_crash_on_are_refused_by_name(tmp_path, capsys):
    """An audit's tracebacks: an infinite rating, an image pattern without {id}, a seed numpy refuses, a name with a
    folder in it (it wrote outside --out), an --out that is a file (found only after every item was encoded)."""
    inter_path, items_path, images = write_catalogue(tmp_path)
    inf = tmp_path / "inf.csv"
    inf.write_text(inter_path.read_text().replace("\t3\t", "\tinf\t", 1))
    with pytest.raises(DatasetError, match="column 'rating' holds 1 infinite value"):
        build(tmp_path, inf, items_path)
    for pattern in ("{nope}.png", "{id", "{id:x}.png"):
        with pytest.raises(DatasetError, match="--image-pattern .* names the item id as {id}"):
            build(tmp_path, inter_path, items_path, image_dir=images, image_pattern=pattern)
    base = ["data", "build", "--interactions", str(inter_path), "--items", str(items_path), "--no-progress"]
    for flag, value in (("--seed", "-1"), ("--seed", str(2**32)), ("--name", "../evil"), ("--name", " ")):
        with pytest.raises(SystemExit):
            parser().parse_args([*base, "--out", str(tmp_path / "o"), flag, value])
        assert flag in capsys.readouterr().err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out in (blocker, blocker / "inside"):
        args = parser().parse_args([*base, "--out", str(out)])
        assert args.func(args) == 2 and "is not a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".inter") == []


def test_a_rebuild_under_another_name_leaves_one_dataset_in_the_folder(tmp_path, capsys):
    inter_path, items_path, _ = write_catalogue(tmp_path)
    base = ["data", "build", "--interactions", str(inter_path), "--items", str(items_path), "--no-progress",
            "--out", str(tmp_path / "out")]
    for extra in ([], ["--overwrite", "--name", "other"]):
        args = parser().parse_args([*base, *extra])
        assert args.func(args) == 0
    assert [p.name for p in (tmp_path / "out").glob("*.inter")] == ["other.inter"]
    assert load_mmrec_folder(tmp_path / "out").n_items == 10


def test_a_movie_table_with_a_year_in_words_is_refused_by_name(tmp_path):
    pd.DataFrame({"movie_id": [1, 2], "title": ["A", "B"], "year": ["1995", "nineteen"], "overview": ["x", "y"],
                  **{g: [0, 1] for g in GENRES}}).to_csv(tmp_path / "items.csv", index=False)
    with pytest.raises(DatasetError, match=r"column 'year' must hold whole numbers; found 1 other.*'nineteen'"):
        read_movies(tmp_path)


def test_build_movielens_names_only_its_own_flags():
    """It advised --k-core, --item-column and --id-column, flags `data build-movielens` does not have."""
    udata = pd.DataFrame({"user": [1, 2, 3], "item": [7, 7, 8], "rating": [3, 4, 5], "timestamp": [1, 2, 3]})
    with pytest.raises(DatasetError, match="raise --limit-items") as err:
        split_udata(udata, None, "u.data")
    assert "--k-core" not in str(err.value)


def test_the_builder_says_which_item_text_it_read_and_what_it_dropped(tmp_path, capsys):
    """The interactions file given as the item table built "items" whose text was "user, rating, timestamp" and
    dropped 30,318 - 199 repeated rows without a word (audit r73): the build says what it read and dropped."""
    from mambarec.cli import main

    inter_path, items_path, _ = write_catalogue(tmp_path, with_images=False)
    notes = []
    build_catalogue(inter_path, items_path, tmp_path / "good", progress=False, notes=notes)
    assert notes == [f"{items_path}: item text from column(s) 'title', 'description', 'category' (--text-columns "
                     "chooses others)"]  # nothing repeated
    assert main(["data", "build", "--interactions", str(inter_path), "--items", str(inter_path), "--out",
                 str(tmp_path / "wrong"), "--no-progress"]) == 0
    said = capsys.readouterr().err
    assert "item text from column(s) 'user_id', 'rating', 'timestamp'" in said
    assert "row(s) repeat the id of an earlier row" in said and "is this the interactions file?" in said
