"""Bring your own catalogue: interactions + item table (+ images) -> an MMRec-format folder.

``build_catalogue`` reads an interactions file (CSV/TSV, delimiter detected; user and item
columns, optional rating and timestamp) and an item table (id and text columns), keeps the
k-core, re-indexes users and items from 0 in order of their original ids, splits each user's
interactions with MMRec's rule (docs/protocol.md section 2), encodes item texts and images
(``mambarec.data.encoders``) and writes ``<name>.inter``, ``text_feat.npy``, ``image_feat.npy``,
``items.tsv`` and ``stats.json``.

The shuffle is that of the shared ml100k folder: ``pandas.DataFrame.sample(frac=1,
random_state=seed)`` over all interactions (in file order, after the k-core), then a stable
sort by user, so each user's rows keep their shuffled order; the labels follow ``mmrec_split``.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mambarec.data.dataset import DatasetError
from mambarec.data.encoders import encode_images, encode_texts
from mambarec.data.mmrec import mmrec_split, write_mmrec_folder

USER_ALIASES = ("user", "user_id", "userID", "userId", "uid")
ITEM_ALIASES = ("item", "item_id", "itemID", "itemId", "iid", "movie_id", "movieId")
ID_ALIASES = ("id", "item_id", "itemID", "itemId", "item", "iid", "movie_id", "movieId")
RATING_ALIASES = ("rating", "score")
TIME_ALIASES = ("timestamp", "time", "ts")
TITLE_ALIASES = ("title", "name")
DELIMITERS = ",\t;|"


# ---- reading ---------------------------------------------------------------------------------
def sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV/TSV file: sniffed from its first lines, else by extension."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        head = fh.read(16384)
    first = head.splitlines()[0] if head.splitlines() else ""
    counts = {d: first.count(d) for d in DELIMITERS}
    if max(counts.values()) > 0:
        try:
            return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
        except csv.Error:
            return max(counts, key=counts.get)
    return "\t" if path.suffix.lower() in (".tsv", ".tab", ".inter") else ","


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """A delimited text table with a header, every cell a string ('' when empty)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: {what} file not found; check the path (a CSV or TSV file with a header)")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the {what} file is empty; it needs a header line and one row per record")
    sep = sniff_delimiter(path)
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{path}: the {what} file is empty; it needs a header line and rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DatasetError(
            f"{path}: cannot parse the {what} file as {sep!r}-separated UTF-8 text ({exc}); "
            "check the delimiter and quoting"
        ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise DatasetError(f"{path}: the {what} file has a header ({list(df.columns)}) but no rows")
    return df


def pick_column(
    df: pd.DataFrame, wanted: str | None, aliases: Sequence[str], path: Path, role: str,
    flag: str, required: bool = True,
) -> str | None:
    """``wanted`` if given (it must exist), else the first alias present, else an error/None."""
    if wanted is not None:
        if wanted in df.columns:
            return wanted
        raise DatasetError(
            f"{path}: no {role} column {wanted!r}; found columns {list(df.columns)}. "
            f"Name the right one with {flag}."
        )
    for name in aliases:
        if name in df.columns:
            return name
    if required:
        headless = all(_numeric(c) for c in df.columns)  # MovieLens' u.data: "196 242 3 881250949", no header
        hint = (" These column names are numbers: the file seems to have no header row; add one (e.g. "
                "'user_id item_id rating timestamp'), or use `data build-movielens` for MovieLens' u.data."
                if headless else "")
        raise DatasetError(
            f"{path}: cannot find the {role} column (looked for {list(aliases)}); found columns "
            f"{list(df.columns)}. Name it with {flag}.{hint}"
        )
    return None


def _numeric(name) -> bool:
    try:
        float(str(name))
    except ValueError:
        return False
    return True


def numeric_column(df: pd.DataFrame, col: str | None, path: Path, datetime_ok: bool = False) -> pd.Series:
    """A rating/timestamp column as numbers (int64 when integral); 0 when the column is absent."""
    if col is None:
        return pd.Series(np.zeros(len(df), dtype=np.int64), index=df.index)
    raw = df[col].str.strip()
    values = pd.to_numeric(raw, errors="coerce")
    if values.isna().any() and datetime_ok:
        dates = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        if not dates.isna().any():
            seconds = (dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
            return pd.Series(seconds.astype(np.int64), index=df.index)
    if values.isna().any():
        bad = raw[values.isna()].head(3).tolist()
        raise DatasetError(
            f"{path}: column {col!r} must be numeric{' or a date' if datetime_ok else ''}; found "
            f"{int(values.isna().sum())} other value(s), e.g. {bad}"
        )
    infinite = ~np.isfinite(values.to_numpy(dtype=np.float64))
    if infinite.any():
        raise DatasetError(f"{path}: column {col!r} holds {int(infinite.sum())} infinite value(s), e.g. "
                           f"{raw[infinite].head(3).tolist()}; use finite numbers (or leave the column out)")
    if (values == values.round()).all():
        return values.astype(np.int64)
    return values.astype(np.float64)


def read_interactions(
    path: str | Path, user_column: str | None = None, item_column: str | None = None
) -> pd.DataFrame:
    """Columns user, item (original ids, strings), rating, timestamp, in file order."""
    path = Path(path)
    df = read_table(path, "interactions")
    ucol = pick_column(df, user_column, USER_ALIASES, path, "user", "--user-column")
    icol = pick_column(df, item_column, ITEM_ALIASES, path, "item", "--item-column")
    rcol = pick_column(df, None, RATING_ALIASES, path, "rating", "", required=False)
    tcol = pick_column(df, None, TIME_ALIASES, path, "timestamp", "", required=False)
    out = pd.DataFrame({
        "user": df[ucol].str.strip(), "item": df[icol].str.strip(),
        "rating": numeric_column(df, rcol, path), "timestamp": numeric_column(df, tcol, path, True),
    })
    empty = (out["user"] == "") | (out["item"] == "")
    if empty.any():
        raise DatasetError(
            f"{path}: {int(empty.sum())} row(s) have an empty user or item id (first at data row "
            f"{int(np.argmax(empty.to_numpy())) + 1}); remove them"
        )
    return out


def read_items(
    path: str | Path, id_column: str | None = None, text_columns: Sequence[str] | None = None,
    notes: list[str] | None = None,
) -> tuple[pd.DataFrame, str, list[str]]:
    """The item table (first row per id kept), its id column and its text columns; ``notes`` gets what was read
    and what was dropped (the interactions file given as the item table built 199 "items" from 30,318 rows, their
    text "user, rating, timestamp", without a word: audit r73)."""
    path = Path(path)
    df = read_table(path, "item table")
    idcol = pick_column(df, id_column, ID_ALIASES, path, "item id", "--id-column")
    if text_columns is None:
        text_columns = [c for c in df.columns if c != idcol]
    text_columns = list(text_columns)
    missing = [c for c in text_columns if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{path}: text column(s) {missing} not found; found columns {list(df.columns)}. "
            "Choose them with --text-columns."
        )
    if not text_columns:
        raise DatasetError(f"{path}: the item table has no text column besides the id {idcol!r}")
    df = df.assign(**{idcol: df[idcol].str.strip()})
    repeated = df[idcol].duplicated(keep="first")
    if notes is not None:
        notes.append(f"{path}: item text from column(s) {', '.join(map(repr, text_columns))} (--text-columns "
                     "chooses others)")
        if repeated.any():
            ids = df.loc[repeated, idcol].unique()
            notes.append(f"{path}: {int(repeated.sum()):,} row(s) repeat the id of an earlier row ({len(ids):,} "
                         f"id(s), e.g. {ids[0]!r}); the first row of each id is kept. An item table lists each item "
                         "once: is this the interactions file?")
    return df[~repeated].reset_index(drop=True), idcol, text_columns


# ---- filtering, re-indexing, splitting ---------------------------------------------------------
def sorted_ids(values: pd.Series) -> np.ndarray:
    """Unique ids in their natural order: numerically when they are all integers."""
    unique = pd.unique(values)
    if pd.api.types.is_integer_dtype(values) or all(re.fullmatch(r"-?\d+", str(v)) for v in unique):
        return np.array(sorted(unique, key=int), dtype=object)
    return np.array(sorted(unique, key=str), dtype=object)


def kcore_mask(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Rows to keep so that every kept user and item has >= k kept rows (iterated to a fixpoint)."""
    keep = np.ones(len(users), dtype=bool)
    while True:
        ucount = np.bincount(users[keep], minlength=users.max() + 1)
        icount = np.bincount(items[keep], minlength=items.max() + 1)
        new_keep = keep & (ucount[users] >= k) & (icount[items] >= k)
        if new_keep.sum() == keep.sum():
            return keep
        keep = new_keep


def apply_kcore(inter: pd.DataFrame, k: int, source: str,
                fix: str = "lower --k-core (minimum 3)") -> pd.DataFrame:
    """The k-core of ``inter`` (file order kept); a DatasetError when nothing survives (``fix``: the caller's way
    out besides more data)."""
    users = pd.factorize(inter["user"])[0]
    items = pd.factorize(inter["item"])[0]
    kept = inter[kcore_mask(users, items, k)]
    if kept.empty:
        raise DatasetError(
            f"{source}: no interactions survive the {k}-core filter ({len(inter)} interactions, "
            f"{inter['user'].nunique()} users, {inter['item'].nunique()} items): every user and item "
            f"needs >= {k} interactions. Add data or {fix}."
        )
    return kept


def reindex(inter: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """userID / itemID from 0 in order of the original ids; returns the frame and both id lists."""
    user_ids, item_ids = sorted_ids(inter["user"]), sorted_ids(inter["item"])
    umap = pd.Series(np.arange(len(user_ids)), index=pd.Index(user_ids, dtype=object))
    imap = pd.Series(np.arange(len(item_ids)), index=pd.Index(item_ids, dtype=object))
    out = pd.DataFrame({
        "userID": umap.reindex(inter["user"].astype(object)).to_numpy(np.int64),
        "itemID": imap.reindex(inter["item"].astype(object)).to_numpy(np.int64),
        "rating": inter["rating"].to_numpy(), "timestamp": inter["timestamp"].to_numpy(),
    })
    return out, user_ids, item_ids


def shuffle_split(inter: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Shuffle all rows (pandas sample, ``seed``), group by user (stable) and add MMRec's x_label."""
    shuffled = inter.sample(frac=1, random_state=seed).sort_values("userID", kind="stable")
    counts = shuffled.groupby("userID", sort=True).size().to_numpy()
    out = shuffled.reset_index(drop=True)
    out["x_label"] = mmrec_split(counts)
    return out


def prepare_interactions(
    inter: pd.DataFrame, k_core: int, seed: int, source: str, fix: str = "lower --k-core (minimum 3)"
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """k-core, re-index and split raw (user, item, rating, timestamp) rows (``fix``: ``apply_kcore``'s)."""
    if k_core < 3:
        raise DatasetError(
            f"k_core={k_core}: use at least 3 so every user keeps a train, a valid and a test interaction"
        )
    inter = inter.drop_duplicates(["user", "item"], keep="first")
    kept = apply_kcore(inter, k_core, source, fix)
    indexed, user_ids, item_ids = reindex(kept)
    return shuffle_split(indexed, seed), user_ids, item_ids


# ---- items: texts, images, metadata ---------------------------------------------------------------
def check_items_known(inter: pd.DataFrame, table_ids: pd.Series, inter_path: Path, items_path: Path,
                      hint: str = " (check that --item-column and --id-column name the same ids)") -> None:
    """Every item of the interactions has a row in the item table; ``hint``: what the caller's flags can change."""
    unknown = pd.Index(pd.unique(inter["item"])).difference(pd.Index(table_ids))
    if len(unknown):
        raise DatasetError(
            f"{items_path}: {len(unknown)} item id(s) used in {inter_path} have no row in the item "
            f"table, e.g. {sorted(unknown.tolist(), key=str)[:5]}; add rows for them or remove their "
            f"interactions{hint}"
        )


def join_text(values: Sequence[str]) -> str:
    """Non-empty parts joined by '. ' (no extra period after one that already ends a sentence)."""
    text = ""
    for value in (str(v).strip() for v in values):
        if not value:
            continue
        if text:
            text += " " if text[-1] in ".!?" else ". "
        text += value
    return text


def image_paths(image_dir: str | Path | None, ids: Sequence[str], pattern: str) -> list[Path | None]:
    """The image of each item id (``pattern`` formatted with ``id``), None where absent."""
    if image_dir is None:
        return [None] * len(ids)
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DatasetError(f"{image_dir}: image folder not found; check --image-dir or leave it out")
    try:
        paths = [image_dir / pattern.format(id=i) for i in ids]
    except (KeyError, IndexError, ValueError) as exc:
        raise DatasetError(f"--image-pattern {pattern!r} is not a usable file name pattern ({exc}): it names the item "
                           "id as {id}, for example '{id}.jpg' or 'poster_{id}.png'") from exc
    return [p if p.is_file() else None for p in paths]


def item_metadata(
    table: pd.DataFrame, idcol: str, text_columns: list[str], has_image: list[bool]
) -> pd.DataFrame:
    """items.tsv: itemID, the original id, a title, the text columns, category, has_image."""
    meta = pd.DataFrame({"itemID": np.arange(len(table))})
    id_name = idcol if idcol not in ("itemID", "title", "category", "has_image") else "original_id"
    meta[id_name] = table[idcol].to_numpy()
    title = next((c for c in TITLE_ALIASES if c in table.columns), text_columns[0])
    meta["title"] = table[title].to_numpy()
    for col in [*text_columns, "category"]:
        if col in table.columns and col not in meta.columns and col != idcol:
            meta[col] = table[col].to_numpy()
    meta["has_image"] = has_image
    return meta


def encode_items(
    texts: list[str], paths: list[Path | None], progress: bool
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Text and image features of the items plus encode timings."""

    t0 = time.perf_counter()
    text = encode_texts(texts, progress=progress)
    t1 = time.perf_counter()
    visual = encode_images(paths, progress=progress)
    t2 = time.perf_counter()
    return text, visual, {"text_encode_s": round(t1 - t0, 1), "image_encode_s": round(t2 - t1, 1)}


def split_stats(inter: pd.DataFrame) -> dict:
    counts = np.bincount(inter["x_label"].to_numpy(), minlength=3)
    return {
        "users": int(inter["userID"].max()) + 1, "items": int(inter["itemID"].max()) + 1,
        "interactions": len(inter), "split": {str(k): int(v) for k, v in enumerate(counts)},
    }


def write_stats(out: Path, stats: dict) -> None:
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")


# ---- the builder -----------------------------------------------------------------------------------
def build_catalogue(
    interactions: str | Path, items: str | Path, out: str | Path, *, image_dir: str | Path | None = None,
    text_columns: Sequence[str] | None = None, id_column: str | None = None,
    user_column: str | None = None, item_column: str | None = None, image_pattern: str = "{id}.jpg",
    k_core: int = 5, seed: int = 2026, name: str | None = None, progress: bool = True,
    notes: list[str] | None = None,
) -> Path:
    """Build an MMRec-format folder ``out`` from your own catalogue; returns ``out``.

    Column names left as None are looked up among common names (user/user_id/..., item/item_id/
    ..., id/item_id/...); ``text_columns=None`` takes every item-table column except the id.
    Images are ``image_dir / image_pattern.format(id=<original id>)``; items without one get
    the mean image feature. Raises DatasetError with the file and the fix for bad input; ``notes`` gets what a
    user should know of how the files were read (``read_items``).
    """
    interactions, items, out = Path(interactions), Path(items), Path(out)
    raw = read_interactions(interactions, user_column, item_column)
    table, idcol, text_columns = read_items(items, id_column, text_columns, notes)
    check_items_known(raw, table[idcol], interactions, items)
    inter, _, item_ids = prepare_interactions(raw, k_core, seed, str(interactions))
    table = table.set_index(idcol).loc[item_ids.astype(str)].reset_index()
    texts = [join_text(row) for row in table[text_columns].itertuples(index=False)]
    paths = image_paths(image_dir, [str(i) for i in item_ids], image_pattern)
    text, visual, timings = encode_items(texts, paths, progress)
    meta = item_metadata(table, idcol, text_columns, [p is not None for p in paths])
    name = name or out.name
    write_mmrec_folder(out, name, inter, visual, text, meta)
    write_stats(out, {**split_stats(inter), "items_without_image": int(sum(p is None for p in paths)),
                      **timings})
    return out
