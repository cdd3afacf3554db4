"""The comparison tables as the pages read them: saved runs and precomputed results as rows, seeds aggregated,
deltas with their intervals (the logic: ``mambarec.comparison``, which ``python -m mambarec compare`` prints too),
the popularity reference and the paired Wilcoxon test (what a page does to a saved run: ``app.run_actions``), and
the Compare table's columns: their words and widths.

Each is a cached call into ``mambarec`` (``st.cache_data`` keyed by the folders' signatures, so a
new run or a new precomputed grid invalidates it). Statistics come from ``mambarec.stats`` only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd
import streamlit as st

from app import presentation
from app.errors import said
from app.paths import precomputed_dir, precomputed_signature, runs_root, runs_signature
from mambarec import stats
from mambarec.artifacts import PrecomputedError, load_precomputed
from mambarec.catalog import list_runs
from mambarec.catalog import precomputed_records as store_records
from mambarec.comparison import (  # noqa: F401  (the tables' logic; intervals, mean_interval, ran_summary and
    METRICS,  # ran_text re-exported for the pages)
    add_deltas,
    aggregate_seeds,
    intervals,
    mean_interval,
    on_dataset,
    ran_summary,
    ran_text,
    record_row,
)
from mambarec.config import PopConfig, RunConfig, TrainConfig
from mambarec.data import load_dataset
from mambarec.groundtruth import COLD_WARM_K, COLD_WARM_METRIC  # noqa: F401  (re-exported for the pages)
from mambarec.progress import adopt_orphans

SWAP_WAIT_S = 0.5  # a swap of the precomputed folder takes two renames: far less than this
PRECOMPUTE_HINT = "no precomputed results yet: run `python -m mambarec precompute`"
T = TypeVar("T")


NO_CHANGE = 1e9  # where the Compare table sorts a row with no change to show: past any change in %
TIE_BREAK = 1e-9  # x the row's position, added to its change in %: far below the 0.1% the table prints


# ---- tables ----------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def saved_runs(root: str, signature: tuple) -> tuple[pd.DataFrame, list[tuple[str, str]], list[tuple[str, str]]]:
    """One row per saved run folder, the run folders that cannot be read with the reason, and those another process
    is writing with its writer (``signature`` only keys the cache)."""
    unreadable: list[tuple[Path, str]] = []
    busy: list[tuple[Path, str]] = []
    rows = pd.DataFrame([record_row(r) for r in list_runs(Path(root), unreadable, busy)])
    # printable names (catalog.list_runs)
    return rows, [(str(folder), why) for folder, why in unreadable], [(str(folder), who) for folder, who in busy]


def unreadable_note(unreadable: list[tuple[str, str]], busy: list[tuple[str, str]] = ()) -> str | None:
    """The run folders left out of the tables, said (a damaged metrics.json dropped a run without a word)."""
    said = []
    if unreadable:
        named = "; ".join(f"{Path(folder).name} ({why})" for folder, why in unreadable)
        said.append(f"Left out {len(unreadable)} run folder{'s' if len(unreadable) != 1 else ''} that cannot be read: "
                    f"{named}")
    if busy:
        named = ", ".join(f"{Path(folder).name} (process {who})" for folder, who in busy)
        said.append(f"Left out while another process writes them (a `train --resume` continuing the run): {named}; "
                    "listed once they end")
    return ". ".join(said) or None


@st.cache_data(max_entries=4, show_spinner="Reading the precomputed results...")
def precomputed_records(folder: str, signature: tuple) -> tuple[list, str | None]:
    """``mambarec.catalog.precomputed_records`` of the folder, or ([], why) when it cannot be used.

    Whether its numbers are still today's is checked apart (``app.staleness.staleness_banner``), in
    the background, so the rows are drawn before that check ends."""
    if not (Path(folder) / "manifest.json").is_file():
        return [], PRECOMPUTE_HINT
    records, why = _read_precomputed(folder)
    if why is not None:  # `precompute` swaps a new folder in with two renames: a read between them finds files
        time.sleep(SWAP_WAIT_S)  # missing (audit r60, item 10: a raw FileNotFoundError, or advice to regenerate
        records, why = _read_precomputed(folder)  # for hours); once more after it, before saying so
    return records, why


def _read_precomputed(folder: str) -> tuple[list, str | None]:
    try:
        return store_records(load_precomputed(Path(folder))), None
    except PrecomputedError as exc:
        return [], f"The precomputed results cannot be used: {exc}"
    except OSError as exc:
        return [], f"The precomputed results cannot be used: {said(exc)}"


@st.cache_data(max_entries=4, show_spinner=False)
def precomputed_results(folder: str, signature: tuple) -> tuple[pd.DataFrame, str | None]:
    """The precomputed rows as comparison rows; (empty, why) when unavailable."""
    records, message = precomputed_records(folder, signature)
    return pd.DataFrame([record_row(r) for r in records]), message


def precomputed_table(dataset: str) -> tuple[pd.DataFrame, str | None]:
    """Precomputed rows of ``dataset`` (by name) and a message to show when there are none."""
    folder = precomputed_dir()
    table, message = precomputed_results(str(folder), precomputed_signature(folder))
    if not table.empty:
        table = table[table["dataset"] == dataset]
    return table.reset_index(drop=True), message


def results_table(dataset: str, fingerprint: str | None) -> tuple[pd.DataFrame, str | None]:
    """Saved runs and precomputed results on ``dataset``, one row per run/seed, and what to say of them.

    A row belongs to the dataset when its fingerprint matches (the same data under any name or
    path); rows without one, or a dataset that cannot be loaded (``fingerprint`` None), fall back to the name.
    """
    rows, message, _ = keyed_results_table(dataset, fingerprint)
    return rows, message


def keyed_results_table(dataset: str, fingerprint: str | None) -> tuple[pd.DataFrame, str | None, tuple]:
    """``results_table`` and the key of this version of its rows (the dataset and both folders' signatures), which
    ``per_rows`` keys what is computed from them by (``folders_of`` its folders' part)."""
    root = runs_root()
    adopt_orphans(root)  # runs whose training died with a server or a killed `train`: listed from their last save
    folder = precomputed_dir()
    key = (dataset, fingerprint, str(folder), precomputed_signature(folder), str(root), runs_signature(root))
    rows, message = _results_table(key)
    return rows, message, key


@st.cache_data(max_entries=16, show_spinner=False)
def _results_table(key: tuple) -> tuple[pd.DataFrame, str | None]:
    dataset, fingerprint, folder, folder_signature, root, root_signature = key
    saved, unreadable, busy = saved_runs(root, root_signature)
    pre, message = precomputed_results(folder, folder_signature)
    frames = [on_dataset(f, dataset, fingerprint) for f in (pre, saved) if not f.empty]
    frames = [f for f in frames if not f.empty]
    left_out = unreadable_note(unreadable, busy)
    if left_out:
        message = f"{message}. {left_out}" if message else left_out
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), message


def folders_of(key: tuple) -> tuple:
    """The folders' part of a ``keyed_results_table`` key: (precomputed folder, its signature, runs folder, its
    signature), what the learning curves' history is keyed by too (``evidence.history_key``)."""
    return key[2:]


def per_rows(key: tuple, what: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, once per version of the rows (``key``: ``keyed_results_table``'s) and ``what`` (a name and
    every other input of ``compute``), for every session of the server; each caller gets its own copy. A room of 30
    opening one lesson step had computed the Compare page's numbers 30 times, ~0.2 s of CPU each
    (docs/speed.md section 4); hashing the frames themselves, as a plain cache does, took a good part of that."""
    return _once(key, what, compute)


@st.cache_data(max_entries=256, show_spinner=False)
def _once(key: tuple, what: tuple, _compute: Callable[[], T]) -> T:
    return _compute()


# ---- seeds and deltas ------------------------------------------------------------------------
def aggregated(key: tuple, rows: pd.DataFrame) -> pd.DataFrame:
    """``aggregate_seeds`` of ``rows`` (``key``: their version, ``per_rows``)."""
    return per_rows(key, ("aggregated",), lambda: aggregate_seeds(rows))


def deltas(key: tuple, table: pd.DataFrame, rows: pd.DataFrame, reference: str, metrics: tuple[str, ...],
           shown: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``add_deltas`` of ``table``, the ``aggregated`` rows (``key``: their version) with or without the pop row:
    each interval a t quantile."""
    what = ("deltas", tuple(table["name"]), reference, metrics, shown)
    return per_rows(key, what, lambda: add_deltas(table, rows, reference, metrics, shown))


def shown_rows(table: pd.DataFrame, shown: list[str]) -> pd.DataFrame:
    """The rows of an ``aggregated`` table the Compare page shows, in the order picked (a lesson's r1, r2, r4, r16),
    the pop row last: what the table draws and what its CSV holds (a row out of sight was left out of the Holm
    correction, so its marks would say what was never tested)."""
    view = table[table["name"].isin(shown) | (table["source"] == "reference")]
    picked = {name: i for i, name in enumerate(shown)}
    return view.sort_values("name", key=lambda s: s.map(picked).fillna(len(picked)), kind="stable")


def by_number(view: pd.DataFrame, metrics: tuple[str, ...], columns: list[str] | None = None):
    """``view`` (an ``add_deltas`` table) with the Δ of each of ``metrics`` as a number (``Δ <m> order``) that
    shows as its words: a click on the Compare table's header sorts by the change, where the words sorted as text
    (▼ -78.0% between ▽ -2.2% and ▼ -6.2%). The reference counts as 0, a row with no change to show (no common
    seed) as more than any change. A Styler: Streamlit draws its display values and sorts by the data. Row ``i``
    adds ``i`` x ``TIE_BREAK`` (a tie keeps the table's order), so each number names its row's words: one
    formatter a column, not one a cell (80 of those cost 0.1 s a rerun on ml100k). ``columns``: the ones the table
    draws, the Styler's only (Streamlit formats every column a Styler holds, drawn or not: the table's ~40 hidden
    columns cost ~0.1 s of a ~0.5 s Compare run on ml100k)."""
    present = [m for m in metrics if f"Δ {m} %" in view]
    if not present:
        return view
    view = view.reset_index(drop=True)
    for m in present:
        change = view[f"Δ {m} %"].mask(view[f"Δ {m}"] == "reference", 0.0)
        step = change.notna().map({True: TIE_BREAK, False: 1.0})  # 1e-9 is lost beside 1e9
        view[f"Δ {m} order"] = change.fillna(NO_CHANGE) + step * view.index
    styler = (view if columns is None else view[columns]).style
    for m in present:
        words = dict(zip(view[f"Δ {m} order"], view[f"Δ {m}"], strict=True))
        styler = styler.format(words.get, subset=[f"Δ {m} order"])
    return styler


def popularity_row(dataset, rows: pd.DataFrame | None = None) -> dict:
    """Popularity ranking as a row of the comparison table: from a ``pop`` run among ``rows`` (ranking by
    popularity is deterministic, so any of them is the reference; the row counts them all, with a spread of 0, as
    the README, REPORT.md and ``compare --csv`` do, and its Δ pairs over them), else computed now (one value)."""
    pop = rows[rows["model_name"] == "pop"] if rows is not None and not rows.empty else pd.DataFrame()
    metrics = ({m: float(pop[m].iloc[0]) for m in METRICS} if not pop.empty
               else popularity_reference(dataset.name, dataset.fingerprint(), dataset))
    spread = 0.0 if len(pop) > 1 else float("nan")  # one value has no spread to show
    return {"source": "reference", "setup": "popularity (most-popular items)", "name": "pop", "cell": "pop",
            "seeds": max(len(pop), 1), "ran": "no training: exact", "model_name": "pop", "r": None,
            **{m: metrics.get(m) for m in METRICS}, **{f"{m} ±": spread for m in METRICS},
            **{f"{m} text": f"{metrics.get(m, float('nan')):.4f}" for m in METRICS}}


@st.cache_data(max_entries=8, show_spinner="Ranking by popularity...")
def popularity_reference(name: str, fingerprint: str, _dataset) -> dict[str, float]:
    """Test metrics of most-popular ranking: the ``pop`` model, evaluated."""
    from mambarec.evaluate import evaluate_model  # lazy: torch
    from mambarec.model.zoo import build_model  # lazy: torch

    run = RunConfig(dataset=name, model_name="pop", model=PopConfig(), train=TrainConfig(device="cpu"))
    return dict(evaluate_model(build_model(run, _dataset), _dataset, ("test",))["test"])


# ---- paired significance test ---------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner="Evaluating per user...")
def per_user_test(checkpoint: str, mtime_ns: int, fingerprint: str, _dataset, metric: str = "Recall@20") -> pd.Series:
    """Per-user test ``metric`` of a checkpoint, indexed by user id (``mtime_ns`` keys the cache)."""
    from mambarec.checkpoint import load_model  # lazy: torch
    from mambarec.evaluate import evaluate_model  # lazy: torch

    test = evaluate_model(load_model(checkpoint, _dataset), _dataset, ("test",), per_user=True)["test"]
    return pd.Series(test["per_user"][metric], index=test["users"], name=metric)


def paired_wilcoxon(checkpoint_a: str, checkpoint_b: str, dataset, metric: str = "Recall@20") -> dict:
    """Wilcoxon signed-rank test on the per-user test ``metric`` of two runs (``mambarec.stats``), paired by
    user. ``dataset``: the loaded Dataset, or its name."""
    if isinstance(dataset, str):
        dataset = load_dataset(dataset)
    fp = dataset.fingerprint()
    a = per_user_test(checkpoint_a, os.stat(checkpoint_a).st_mtime_ns, fp, dataset, metric)
    b = per_user_test(checkpoint_b, os.stat(checkpoint_b).st_mtime_ns, fp, dataset, metric)
    a, b = a.align(b, join="inner")
    res = stats.wilcoxon_per_user(a.to_numpy(), b.to_numpy())
    return {"users": res.users, "differing users": res.differing, "mean A": res.mean_a, "mean B": res.mean_b,
            "mean difference": res.mean_difference, "statistic": res.statistic, "p_value": res.p_value,
            "verdict": res.verdict()}


# Widths that fit 1280 x 800 with the sidebar open: ~916 px for the table, ~1,000 px in presentation mode. Measured
# in Chromium (canvas text widths of the longest entries, "paper_without_reduced_text", "5× 101–112 ep · early stop",
# "▼ -29.4% [-31.9, -26.9]", plus 16 px of cell padding): 187 / 165 / 105 / 142 px, and 219 / 193 / 122 / 166 px in
# presentation mode. There the columns had the first widths, which the grid widens by their share to fill 1280 px,
# but not in a narrower window: at 1024 x 768 each cell was clipped mid-number ("0.3319 ± 0.002"). Each mode now
# has its own: the table fills 1280 px in both and scrolls sideways, whole, in a narrower window.
COLUMN_PX = {"name": (190, 219), "ran": (166, 193), "metric": (106, 122), "delta": (144, 166)}  # (normal, present)
# ...but a saved run's setup is named by what it changed, and "mambarec/paper · use_mmd=off · 5 ep" showed as
# "mambarec/paper · use_mmd=" (rehearsal r70): the setup column widens to its longest name (the grid's text is 0.875
# rem, each cell 16 px of padding), up to these widths
SETUP_AT_MOST_PX, GRID_TEXT_REM, CELL_PADDING_PX = (560, 640), 0.875, 16  # four changes: ~600 px at 19 px type


def column_config(names: pd.Series, shown: tuple[str, ...]) -> dict:
    """Compare's summary table's columns (``shown``: its metrics): their words, help and widths (``COLUMN_PX``; the
    setup column as wide as the longest of ``names`` needs)."""
    px = {k: v[presentation.on()] for k, v in COLUMN_PX.items()}
    need = max((presentation.text_px(str(n), GRID_TEXT_REM) for n in names), default=0) + CELL_PADDING_PX
    px["name"] = int(min(max(px["name"], need + 1), SETUP_AT_MOST_PX[presentation.on()]))
    config = {"name": st.column_config.TextColumn("setup", width=px["name"], help="precomputed cell, or what a saved "
                                                  "run changed from its preset"),
              "ran": st.column_config.TextColumn("seeds × epochs", width=px["ran"], help="how many seeds, the epochs "
                                                 "they ran (of the cap, when one was reached), and how they ended: "
                                                 "early stop, the cap, by hand")}
    for m in shown:
        config[f"{m} text"] = st.column_config.TextColumn(m, width=px["metric"], help=f"test {m}: mean ± sample std "
                                                          "over seeds; '1 seed' has no spread to show")
        config[f"Δ {m} order"] = st.column_config.Column(
            f"Δ {m}", width=px["delta"], alignment="left",
            help="change against the reference in % of its mean, paired by seed, [95% t-interval]. ▲/▼: the interval "
                 "excludes 0, also after Holm's correction over the rows shown; △/▽: it excludes 0, but not after "
                 "that correction (the more rows, the more chance of one by luck; REPORT.md and the README correct "
                 "over their own groups, so a mark may differ there); ≈: it holds 0 (within noise). A click sorts by "
                 "the change")
    return config
