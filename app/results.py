"""The comparison tables: saved runs and precomputed results as rows, seeds aggregated, deltas with
their intervals, run labels that say what differs and how long a run really ran, the popularity
reference, the paired Wilcoxon test, checkpoints to read or import.

Each is a cached call into ``mambarec`` (``st.cache_data`` keyed by the folders' signatures, so a
new run or a new precomputed grid invalidates it). Statistics come from ``mambarec.stats`` only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from pathlib import Path

import pandas as pd
import streamlit as st

from app.paths import precomputed_dir, precomputed_signature, runs_root, runs_signature
from mambarec import findings, stats
from mambarec.artifacts import PrecomputedError, load_precomputed
from mambarec.config import PopConfig, RunConfig, TrainConfig, setup_label
from mambarec.data import load_dataset
from mambarec.groundtruth import (  # noqa: F401  (COLD_WARM_K, COLD_WARM_METRIC: re-exported for the pages)
    COLD_WARM_K,
    COLD_WARM_METRIC,
    ITEM_GROUPS,
    stored_group_metrics,
)
from mambarec.progress import adopt_orphans
from mambarec.store import RunStoreError, list_runs, model_name_of
from mambarec.store import delete_run as store_delete
from mambarec.store import import_checkpoint as store_import
from mambarec.store import precomputed_records as store_records
from mambarec.store import rename_run as store_rename

METRICS = tuple(f"{m}@{k}" for k in (10, 20) for m in ("Recall", "NDCG", "Precision"))
PRECOMPUTE_HINT = "no precomputed results yet: run `python -m mambarec precompute`"


# ---- one run ---------------------------------------------------------------------------------
def ran_text(epochs_run, cap, stopped_early: bool, cancelled: bool) -> str:
    """How long a run trained against its cap: "3 of 20 ep, early stop", "20 of 20 ep (the cap)"."""
    if not epochs_run:
        return "no training"
    head = f"{int(epochs_run)} of {int(cap)} ep" if cap else f"{int(epochs_run)} ep"
    if cancelled:
        return f"{head}, stopped by hand"
    if stopped_early:
        return f"{head}, early stop"
    return f"{head} (the cap)" if cap and int(epochs_run) >= int(cap) else head


def record_row(record) -> dict:
    """One comparison row of a ``mambarec.store.RunRecord`` (a saved run or a precomputed row)."""
    cfg, m = record.config, record.metrics
    try:
        setup, family = setup_label(cfg), setup_label(cfg, ignore=("reduction_factor",))
        run = record.run
        r = getattr(run.model, "reduction_factor", None)
        variant, cap = run.variant, run.train.epochs
    except ValueError:  # a config this version cannot read: still listed, by its id
        setup = family = record.id
        r = variant = cap = None
    ran = ran_text(m.get("epochs_run"), cap, bool(m.get("stopped_early")), bool(m.get("cancelled")))
    # a generated world's run in the grid stores its test metric on cold and warm items (tasks.ground_truth)
    groups = stored_group_metrics(m)
    head = record.cell if record.cell else setup.rsplit(" · ", 1)[0]
    # a saved run's name is its setup, whose last part is the epoch cap: say so ("≤20 ep"), the runs column says
    # how many it ran
    name = record.cell or (f"{head} · ≤{cap} ep" if cap else setup)
    return {
        "source": record.source, "run": record.id, "name": name, "setup": setup, "family": family,
        "label": f"{head} · seed {record.seed} · ran {ran}" + ("" if record.cell else f" · {record.id}"),
        "cell": record.cell, "dataset": record.dataset, "model_name": model_name_of(record), "variant": variant,
        "r": r, "seed": record.seed, **{k: m.get(f"test/{k}") for k in METRICS},
        **{f"{g} {COLD_WARM_METRIC}": groups.get(g, {}).get(COLD_WARM_METRIC) for g in ITEM_GROUPS},
        "valid Recall@20": m.get("valid/Recall@20"), "n_params": m.get("n_params"),
        "s_per_epoch": m.get("s_per_epoch"), "best_epoch": m.get("best_epoch"), "epochs_run": m.get("epochs_run"),
        "epochs_cap": cap, "ran": ran, "stopped": bool(m.get("cancelled")),
        "stopped_early": bool(m.get("stopped_early")), "fingerprint": record.fingerprint,
        "checkpoint": str(record.checkpoint) if record.checkpoint else None,
        "folder": str(record.folder) if record.folder else None,
    }


# ---- tables ----------------------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def saved_runs_table(root: str, signature: tuple) -> pd.DataFrame:
    """One row per saved run folder (``signature`` only keys the cache)."""
    return pd.DataFrame([record_row(r) for r in list_runs(Path(root))])


@st.cache_data(max_entries=4, show_spinner="Reading the precomputed results...")
def precomputed_records(folder: str, signature: tuple) -> tuple[list, str | None]:
    """``mambarec.store.precomputed_records`` of the folder, or ([], why) when it cannot be used.

    Whether its numbers are still today's is checked apart (``app.evidence.staleness_banner``), in
    the background, so the rows are drawn before that check ends."""
    if not (Path(folder) / "manifest.json").is_file():
        return [], PRECOMPUTE_HINT
    try:
        return store_records(load_precomputed(Path(folder))), None
    except PrecomputedError as exc:
        return [], f"The precomputed results cannot be used: {exc}"


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
    """Saved runs and precomputed results on ``dataset``, one row per run/seed.

    A row belongs to the dataset when its fingerprint matches (the same data under any name or
    path); rows without one, or a dataset that cannot be loaded (``fingerprint`` None), fall back to the name.
    """
    root = runs_root()
    adopt_orphans(root)  # runs whose training died with a server or a killed `train`: listed from their last save
    saved = saved_runs_table(str(root), runs_signature(root))
    pre, message = precomputed_results(str(precomputed_dir()), precomputed_signature(precomputed_dir()))
    frames = [on_dataset(f, dataset, fingerprint) for f in (pre, saved) if not f.empty]
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), message


def on_dataset(rows: pd.DataFrame, name: str, fingerprint: str | None) -> pd.DataFrame:
    """Rows of the same data (fingerprint), or of the same name where a row or the dataset has no fingerprint."""
    same_name = rows["dataset"] == name
    if fingerprint is None:
        return rows[same_name].reset_index(drop=True)
    return rows[(rows["fingerprint"] == fingerprint) | (rows["fingerprint"].isna() & same_name)].reset_index(drop=True)


# ---- seeds and deltas ------------------------------------------------------------------------
def spread_text(summary) -> str:
    """``0.2446 ± 0.0019`` over seeds; one seed is one seed, never ``± 0.0000``."""
    if summary.n == 0:
        return "–"
    return f"{summary.mean:.4f} ± {summary.std:.4f}" if summary.std is not None else f"{summary.mean:.4f} · 1 seed"


def ran_summary(group: pd.DataFrame) -> str:
    """The epochs a group's seeds ran and how they ended: "3× 20/20 ep · cap", "3× 11–15 ep · early stop",
    "2× 6/20 ep · 1 early stop, 1 by hand". The cap is named only when a seed did not stop early (it says
    nothing about a run that early stopping ended, and it costs the column's width at 1280 x 800)."""
    runs = group["epochs_run"].dropna().astype(int)
    if runs.empty or runs.max() == 0:
        return "no training"
    cap = group["epochs_cap"].dropna()
    span = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}–{runs.max()}"
    early, by_hand = int(group["stopped_early"].sum()), int(group["stopped"].sum())
    at_cap = int((runs >= cap.max()).sum()) if not cap.empty else 0
    all_early = early == len(group)
    head = f"{len(group)}× {span} ep" if cap.empty or all_early else f"{len(group)}× {span}/{int(cap.max())} ep"
    kinds = [(n, what) for n, what in ((early, "early stop"), (at_cap, "cap"), (by_hand, "by hand")) if n]
    if len(kinds) == 1:
        return f"{head} · {kinds[0][1]}"
    return f"{head} · " + ", ".join(f"{n} {what}" for n, what in kinds) if kinds else head


def aggregate_seeds(rows: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Mean and sample std over the seeds of each setup (``mambarec.stats``): ``<metric> ±`` holds the
    std, empty (NaN) for a single seed, which is one seed, not a zero spread; ``<metric> text`` says so."""
    if rows.empty:
        return rows
    # the same seed twice is the same run twice (training is deterministic): count it once, newest first
    rows = rows.drop_duplicates(subset=["source", "setup", "seed"], keep="first")
    extra = [c for c in ("n_params", "s_per_epoch") if c in rows]
    out = []
    for (source, setup), group in rows.groupby(["source", "setup"], sort=False, dropna=False):
        first = group.iloc[0]
        entry = {"source": source, "setup": setup, "name": first.get("name", setup), "cell": first.get("cell"),
                 "seeds": len(group), "ran": ran_summary(group) if "epochs_run" in group else "",
                 "model_name": first["model_name"], "r": first["r"]}
        for m in metrics:
            summary = stats.summarize(group[m].tolist())
            entry[m], entry[f"{m} ±"] = summary.mean, (summary.std if summary.std is not None else float("nan"))
            entry[f"{m} text"] = spread_text(summary)
        entry.update({c: group[c].mean() for c in extra})
        out.append(entry)
    order = ["source", "name", "setup", "cell", "seeds", "ran",
             *[c for m in metrics for c in (m, f"{m} ±", f"{m} text")], "model_name", "r", *extra]
    return pd.DataFrame(out)[order]


def mean_interval(values) -> dict:
    """Mean over seeds and the 95% t-interval of that mean (``mambarec.stats``); no interval for one seed."""
    s = stats.summarize(list(values))
    low, high = s.interval() or (None, None)
    return {"mean": s.mean, "seeds": s.n, "low": low, "high": high}


def intervals(rows: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """``mean_interval`` of ``metric`` per group of ``by``, with the groups' mean, lowest and highest seconds per
    epoch over seeds."""
    out = [{**dict(zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True)),
            **mean_interval(group[metric].dropna()), "s_per_epoch": group["s_per_epoch"].mean(),
            "s_min": group["s_per_epoch"].min(), "s_max": group["s_per_epoch"].max()}
           for keys, group in rows.groupby(by, sort=False)]
    return pd.DataFrame(out)


def delta_text(rel, note: str = "") -> str:
    """A relative paired difference in words: ▲/▼ when its 95% interval excludes 0 and that holds after Holm's
    correction over the rows compared with it (``note``, from ``findings.holm_notes``; no note: nothing to
    correct), △/▽ when it excludes 0 but not after that correction, ≈ when it holds 0."""
    if rel is None or math.isnan(rel.mean):
        return ""
    if not rel.has_interval:
        return f"{rel.mean:+.1f}% ({rel.n} seed{'s' if rel.n != 1 else ''})"
    side = rel.excludes_zero()
    weak = note.startswith("not")
    mark = {1: "△" if weak else "▲", -1: "▽" if weak else "▼", 0: "≈"}[side]
    return f"{mark} {stats.signed(rel.mean)}% [{stats.signed(rel.low)}, {stats.signed(rel.high)}]"


def paired(rows: pd.DataFrame, metric: str) -> dict[str, dict[int, float]]:
    """name -> seed -> metric, one value per seed. By the table's name, not the setup: a saved run whose setup
    is a precomputed cell's (the default Train setup is the ``paper`` cell's) is its own row, not the cell."""
    return {name: group.drop_duplicates("seed").set_index("seed")[metric].dropna().to_dict()
            for name, group in rows.groupby("name")}


def add_deltas(table: pd.DataFrame, rows: pd.DataFrame, reference: str,
               metrics: tuple[str, ...] = METRICS, shown: Collection[str] | None = None) -> pd.DataFrame:
    """Per row (by ``name``), the change of each metric against the row named ``reference`` in % of its mean, paired by
    seed over the seeds both ran (``mambarec.stats.relative_change``): ``Δ <m> %`` is the mean change,
    ``Δ <m> 95% CI`` its t-interval ("1 seed: no interval" when they share one seed) and ``Δ <m>`` both in
    words (``delta_text``); ``Δ <m> low/high`` the interval's ends, for the charts. Holm's family is the rows
    ``shown`` (default: all) and the always-drawn reference row: the correction is over the rows a reader
    compares, not over cells out of sight (over ml100k's 40 cells, a change that holds over the 3 rows of a
    lesson step read as not holding)."""
    if reference not in set(table["name"]) or rows.empty:
        return table
    out = table.copy()
    for m in metrics:
        by_name = paired(rows, m)
        ref = by_name.get(reference)
        means, cis, words, lows, highs = [], [], [], [], []
        rels = [stats.relative_change(by_name[name], ref, m)
                if name in by_name and ref is not None and name != reference else None for name in out["name"]]
        family = [rel if shown is None or name in shown or source == "reference" else None  # pop: always drawn
                  for name, source, rel in zip(out["name"], out["source"], rels, strict=True)]
        for name, rel, note in zip(out["name"], rels, findings.holm_notes(family), strict=True):
            means.append(rel.mean if rel is not None else float("nan"))
            lows.append(rel.low if rel is not None and rel.has_interval else float("nan"))
            highs.append(rel.high if rel is not None and rel.has_interval else float("nan"))
            no_interval = f"{rel.n} seed{'s' if rel.n != 1 else ''}: no interval" if rel is not None else ""
            cis.append("" if rel is None else (f"[{stats.signed(rel.low)}, {stats.signed(rel.high)}]"
                                               if rel.has_interval else no_interval))
            words.append("reference" if name == reference else delta_text(rel, note))
        out[f"Δ {m} %"], out[f"Δ {m} 95% CI"], out[f"Δ {m}"] = means, cis, words
        out[f"Δ {m} low"], out[f"Δ {m} high"] = lows, highs
    return out


@st.cache_data(max_entries=16, show_spinner=False)
def aggregated(rows: pd.DataFrame) -> pd.DataFrame:
    """``aggregate_seeds`` cached on the rows (a rerun of the page does not regroup them)."""
    return aggregate_seeds(rows)


@st.cache_data(max_entries=32, show_spinner=False)
def deltas(table: pd.DataFrame, rows: pd.DataFrame, reference: str, metrics: tuple[str, ...],
           shown: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``add_deltas`` cached on its inputs: hashing the frames takes milliseconds, each interval a t quantile."""
    return add_deltas(table, rows, reference, metrics, shown)


def reference_row(dataset, rows: pd.DataFrame | None = None) -> dict:
    """Popularity ranking as a row of the comparison table: from a ``pop`` run among ``rows`` (ranking by
    popularity is deterministic, so any of them is the reference), else computed now."""
    pop = rows[rows["model_name"] == "pop"] if rows is not None and not rows.empty else pd.DataFrame()
    metrics = ({m: float(pop[m].iloc[0]) for m in METRICS} if not pop.empty
               else popularity_reference(dataset.name, dataset.fingerprint(), dataset))
    return {"source": "reference", "setup": "popularity (most-popular items)", "name": "pop", "cell": "pop",
            "seeds": 1, "ran": "no training: exact", "model_name": "pop", "r": None,
            **{m: metrics.get(m) for m in METRICS}, **{f"{m} ±": float("nan") for m in METRICS},
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


# ---- checkpoints and saved runs ----------------------------------------------------------------
def checkpoint_summary(ckpt: dict) -> dict:
    """The plain facts of a loaded checkpoint (no tensors), for display."""
    run = ckpt["run"]
    m = ckpt["metrics"]
    return {"setup": setup_label(run.to_dict()), "model_name": run.model_name, "seed": ckpt["seed"],
            "dataset": ckpt["dataset"], "fingerprint": ckpt["dataset_fingerprint"], "versions": ckpt["versions"],
            "resumable": ckpt["resume"] is not None, "best_epoch": m.get("best_epoch"),
            "ran": ran_text(m.get("epochs_run"), run.train.epochs, bool(m.get("stopped_early")),
                            bool(m.get("cancelled"))),
            "test": {k: m.get(f"test/{k}") for k in METRICS}, "config": run.to_dict()}


@st.cache_data(max_entries=32, show_spinner="Reading the checkpoint...")
def checkpoint_info(path: str, mtime_ns: int) -> dict:
    from mambarec.checkpoint import load_checkpoint  # lazy: torch

    return checkpoint_summary(load_checkpoint(path))


# What a read-only server (classroom mode) says when asked to change its saved runs
READ_ONLY = ("this server is in classroom mode: its saved runs can be read, not renamed, deleted or added to; the "
             "lecturer changes them on a server started without MAMBAREC_CLASSROOM")


def import_checkpoint(data: bytes, filename: str, dataset, classroom: bool = False) -> tuple[Path | None, str]:
    """Validate uploaded checkpoint bytes against ``dataset`` (a loaded Dataset) and save them as a run folder.

    Returns (the run folder, "") or (None, the reason it was refused).
    """
    from mambarec.checkpoint import CheckpointError  # lazy: torch

    if classroom:
        return None, READ_ONLY
    try:
        return store_import(data, filename, dataset, runs_root()), ""
    except (CheckpointError, RunStoreError, OSError) as exc:
        return None, str(exc)


def rename_run(folder: str, new_name: str, classroom: bool = False) -> tuple[Path | None, str]:
    """``mambarec.store.rename_run``: (the new folder, "") or (None, why it was refused)."""
    if classroom:
        return None, READ_ONLY
    try:
        return store_rename(Path(folder), new_name), ""
    except (RunStoreError, OSError) as exc:
        return None, str(exc)


def delete_run(folder: str, classroom: bool = False) -> str:
    """``mambarec.store.delete_run``: "" or why nothing was deleted."""
    if classroom:
        return READ_ONLY
    try:
        store_delete(Path(folder))
        return ""
    except (RunStoreError, OSError) as exc:
        return str(exc)
