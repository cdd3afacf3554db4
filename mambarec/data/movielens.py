"""The ml100k recipe: GroupLens ``u.data`` + TMDB ``items.csv`` + posters -> the shared ml100k folder.

``raw`` holds ``u.data`` (tab-separated user, movie, rating, timestamp; no header),
``items.csv`` (movie_id, title, 19 genre flags, year, overview, ...; duplicate movie_ids keep the
first row) and ``posters/<movie_id>.jpg``. The build (README, "Datasets"; it reproduces the shared folder):
5-core, ids re-indexed in order of the original ids, the shuffle/split of
``mambarec.data.builder.shuffle_split`` with seed 2026, item text
"<title>. Genres: <g1, g2>. <overview>" and EfficientNet-Lite0 poster features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mambarec.data.builder import (
    check_items_known,
    encode_items,
    prepare_interactions,
    split_stats,
    write_stats,
)
from mambarec.data.dataset import DatasetError
from mambarec.data.mmrec import write_mmrec_folder

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "FilmNoir", "Horror", "Musical", "Mystery", "Romance", "SciFi", "Thriller", "War",
    "Western",
)
ITEM_COLUMNS = ("movie_id", "title", "year", "overview", *GENRES)
K_CORE = 5
SEED = 2026
NAMED_IDS = 5  # repeated movie ids a note names before "..."


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetError(
            f"{path}: {what} not found. The raw ml100k folder needs u.data (GroupLens), items.csv "
            "(TMDB titles, genres, overviews) and posters/<movie_id>.jpg (see README, 'Datasets')."
        )
    return path


def read_udata(raw: str | Path) -> pd.DataFrame:
    """``u.data`` as columns user, item, rating, timestamp (integers, file order)."""
    path = _require(Path(raw) / "u.data", "u.data")
    try:
        df = pd.read_csv(path, sep="\t", header=None, names=["user", "item", "rating", "timestamp"])
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot parse as tab-separated user item rating timestamp ({exc})") from exc
    if df.empty or not all(pd.api.types.is_integer_dtype(df[c]) for c in df.columns):
        raise DatasetError(f"{path}: expected tab-separated integer rows 'user item rating timestamp'")
    return df


def read_movies(raw: str | Path, notes: list[str] | None = None) -> pd.DataFrame:
    """``items.csv`` indexed by movie_id (first row of each id), with the columns the recipe uses; ``notes`` gets the
    ids it dropped rows of (the shared ml100k's items.csv repeats 55 movies, in 64 rows, and this was not said)."""
    path = _require(Path(raw) / "items.csv", "items.csv")
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the movie table ({exc})") from exc
    missing = [c for c in ITEM_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    for col in ("movie_id", "year"):  # whole numbers (a year may be empty)
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df[col][(values.isna() & df[col].notna()) | (values.notna() & (values != values.round()))]
        if len(bad) or (col == "movie_id" and values.isna().any()):
            raise DatasetError(f"{path}: column {col!r} must hold whole numbers; found {len(bad)} other value(s), "
                               f"e.g. {bad.head(3).tolist() or ['(empty)']}")
        df[col] = values
    repeated = df["movie_id"].duplicated(keep="first")
    if notes is not None and repeated.any():
        ids = sorted(int(i) for i in df.loc[repeated, "movie_id"].unique())
        copies = len(df.drop_duplicates()) == len(df) - int(repeated.sum())  # whole rows alike: nothing is lost
        notes.append(f"{path}: {int(repeated.sum())} row(s) repeat the movie_id of an earlier row ({len(ids)} id(s): "
                     f"{', '.join(map(str, ids[:NAMED_IDS]))}{', ...' if len(ids) > NAMED_IDS else ''}); the first "
                     f"row of each is kept{', and the others are copies of it' if copies else ''}")
    return df[~repeated].set_index("movie_id")


def movie_genres(movies: pd.DataFrame) -> list[list[str]]:
    """Genres flagged 1 per movie, in the file's column order, without genre_unknown."""
    columns = [c for c in movies.columns if c in GENRES]
    flags = movies[columns].to_numpy() == 1
    return [[g for g, f in zip(columns, row, strict=True) if f] for row in flags]


def _text_or_empty(value) -> str:
    return "" if pd.isna(value) else str(value)


def movie_texts(movies: pd.DataFrame) -> list[str]:
    """"<title>. Genres: <g1, g2>. <overview>" per movie, stripped."""
    return [
        f"{_text_or_empty(title)}. Genres: {', '.join(genres)}. {_text_or_empty(overview)}".strip()
        for title, genres, overview in zip(
            movies["title"], movie_genres(movies), movies["overview"], strict=True
        )
    ]


def poster_paths(raw: str | Path, movie_ids: Sequence[int]) -> list[Path | None]:
    posters = Path(raw) / "posters"
    paths = [posters / f"{int(m)}.jpg" for m in movie_ids]
    return [p if p.is_file() else None for p in paths]


def movie_metadata(movies: pd.DataFrame, has_poster: list[bool]) -> pd.DataFrame:
    """items.tsv: itemID, movie_id, title, year, genres (|-separated), category, has_poster, overview."""
    genres = movie_genres(movies)
    years = [f"{int(y)}" if pd.notna(y) else "" for y in movies["year"]]
    return pd.DataFrame({
        "itemID": np.arange(len(movies)), "movie_id": movies.index.to_numpy(),
        "title": [_text_or_empty(t) for t in movies["title"]], "year": years,
        "genres": ["|".join(g) for g in genres], "category": [g[0] if g else "unknown" for g in genres],
        "has_poster": has_poster, "overview": [_text_or_empty(o) for o in movies["overview"]],
    })


def select_movies(movies: pd.DataFrame, movie_ids: Sequence[int], raw: str | Path) -> pd.DataFrame:
    missing = [int(m) for m in movie_ids if m not in movies.index]
    if missing:
        raise DatasetError(f"{Path(raw) / 'items.csv'}: no row for movie_id(s) {missing[:5]}")
    return movies.loc[list(movie_ids)]


def encode_movielens_items(
    raw: str | Path, movie_ids: Sequence[int], progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Text (n, 384) and poster (n, 1280) features of ``movie_ids`` with the ml100k recipe."""
    text, visual, _, _ = encode_movies(raw, select_movies(read_movies(raw), movie_ids, raw), progress)
    return text, visual


def encode_movies(raw: Path | str, movies: pd.DataFrame, progress: bool
                  ) -> tuple[np.ndarray, np.ndarray, list, dict]:
    """The recipe's one encoding of ``movies`` (indexed by movie id, in item order): text and poster features, each
    movie's poster path (None: none) and the encoders' timings. ``build_movielens`` and the test that checks the
    recipe against the shared folder both run it (the test had run a copy of these steps: audit r57)."""
    paths = poster_paths(Path(raw), list(movies.index))
    text, visual, timings = encode_items(movie_texts(movies), paths, progress)
    return text, visual, paths, timings


def movielens_interactions(
    raw: str | Path, limit_items: int | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """The split interactions (userID itemID rating timestamp x_label) and the kept movie ids.

    ``limit_items`` keeps only the interactions of the ``limit_items`` lowest movie ids before
    the 5-core (a quick, small build).
    """
    return split_udata(read_udata(raw), limit_items, Path(raw) / "u.data")


def split_udata(
    udata: pd.DataFrame, limit_items: int | None, source: Path
) -> tuple[pd.DataFrame, np.ndarray]:
    """``movielens_interactions`` on an already-read ``u.data`` frame."""
    if limit_items is not None:
        if limit_items <= 0:
            raise DatasetError(f"limit_items={limit_items}: give a positive number of movies")
        keep = np.sort(udata["item"].unique())[:limit_items]
        udata = udata[udata["item"].isin(keep)]
    inter, _, item_ids = prepare_interactions(udata, K_CORE, SEED, str(source),
                                              fix="raise --limit-items (ml100k's recipe keeps its 5-core)")
    return inter, item_ids.astype(np.int64)


def build_movielens(
    raw: str | Path, out: str | Path, *, limit_items: int | None = None, progress: bool = True,
    name: str = "ml100k", notes: list[str] | None = None,
) -> Path:
    """Build the ml100k MMRec folder ``out`` from the raw folder; returns ``out``. ``notes`` gets what was dropped
    from the raw files on the way."""
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise DatasetError(f"{raw}: raw ml100k folder not found (it must hold u.data, items.csv, posters/)")
    movies = read_movies(raw, notes)
    udata = read_udata(raw)
    check_items_known(udata, pd.Series(movies.index), raw / "u.data", raw / "items.csv",
                      hint=" (u.data's second column and items.csv's movie_id)")
    inter, item_ids = split_udata(udata, limit_items, raw / "u.data")
    movies = movies.loc[item_ids]
    text, visual, paths, timings = encode_movies(raw, movies, progress)
    meta = movie_metadata(movies, [p is not None for p in paths])
    write_mmrec_folder(out, name, inter, visual, text, meta)
    write_stats(out, {**split_stats(inter), "items_without_poster": int(sum(p is None for p in paths)),
                      **timings})
    return out
