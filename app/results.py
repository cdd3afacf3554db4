"""The comparison tables: saved runs and precomputed results as rows, seeds aggregated, deltas,
the popularity reference, the paired Wilcoxon test, checkpoints to read or import.

Each is a cached call into ``mambarec`` (``st.cache_data`` keyed by the folders' signatures, so a
new run or a new precomputed grid invalidates it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from app.state import dataset_card, get_dataset, precomputed_dir, runs_root, runs_signature
from mambarec import stats
from mambarec.config import setup_label

METRICS = tuple(f"{m}@{k}" for k in (10, 20) for m in ("Recall", "NDCG", "Precision"))
PRECOMPUTE_HINT = "no precomputed results yet: run `python -m mambarec precompute`"


def record_row(record) -> dict:
    """One comparison row of a ``mambarec.store.RunRecord`` (a saved run or a precomputed row)."""
    from mambarec.store import model_name_of

    cfg, m = record.config, record.metrics
    try:
        setup, family = setup_label(cfg), setup_label(cfg, ignore=("reduction_factor",))
        run = record.run
        r = getattr(run.model, "reduction_factor", None)
        variant = run.variant
    except ValueError:  # a config this version cannot read: still listed, by its id
        setup = family = record.id
        r = variant = None
    return {
        "source": record.source, "run": record.id, "setup": setup, "family": family, "dataset": record.dataset,
        "model_name": model_name_of(record), "variant": variant, "r": r, "seed": record.seed,
        **{k: m.get(f"test/{k}") for k in METRICS}, "valid Recall@20": m.get("valid/Recall@20"),
        "n_params": m.get("n_params"), "s_per_epoch": m.get("s_per_epoch"), "best_epoch": m.get("best_epoch"),
        "epochs_run": m.get("epochs_run"), "stopped": bool(m.get("cancelled")),
        "stopped_early": bool(m.get("stopped_early")), "fingerprint": record.fingerprint,
        "checkpoint": str(record.checkpoint) if record.checkpoint else None,
    }


@st.cache_data(max_entries=16, show_spinner=False)
def saved_runs_table(root: str, signature: tuple) -> pd.DataFrame:
    """One row per saved run folder (``signature`` only keys the cache)."""
    from mambarec.store import list_runs

    return pd.DataFrame([record_row(r) for r in list_runs(Path(root))])


def precomputed_table(dataset: str) -> tuple[pd.DataFrame, str | None]:
    """Precomputed rows of ``dataset`` (by name) and a message to show when there are none or they are stale."""
    folder = precomputed_dir()
    table, message = precomputed_results(str(folder), _precomputed_signature(folder))
    if not table.empty:
        table = table[table["dataset"] == dataset]
    return table.reset_index(drop=True), message


def _precomputed_signature(folder: Path) -> tuple:
    manifest = folder / "manifest.json"  # precompute swaps the whole folder in, manifest included
    return (str(manifest), manifest.stat().st_mtime_ns) if manifest.is_file() else ()


@st.cache_data(max_entries=4, show_spinner=False)
def precomputed_results(folder: str, signature: tuple) -> tuple[pd.DataFrame, str | None]:
    """``mambarec.artifacts.load_precomputed`` as comparison rows; (empty, why) when unavailable, and a
    banner naming what moved when the folder is stale (its rows are still shown)."""
    from mambarec.artifacts import PrecomputedError, load_precomputed

    if not (Path(folder) / "manifest.json").is_file():
        return pd.DataFrame(), PRECOMPUTE_HINT
    try:
        loaded = load_precomputed(Path(folder))
    except PrecomputedError as exc:
        return pd.DataFrame(), f"The precomputed results cannot be used: {exc}"
    stale = precomputed_staleness(folder, signature)
    from mambarec.store import precomputed_records

    return pd.DataFrame([record_row(r) for r in precomputed_records(loaded)]), stale


@st.cache_data(max_entries=4, show_spinner="Checking the precomputed numbers against today's code (numerics "
                                           "probes, seconds the first time)...")
def precomputed_staleness(folder: str, signature: tuple) -> str | None:
    """A banner when the folder's numerics probes no longer reproduce (None when current)."""
    from mambarec.artifacts import load_precomputed, regenerate_hint, staleness

    found = staleness(load_precomputed(Path(folder))["manifest"])
    if found.current:
        return None
    return (f"These precomputed results are stale: today's code computes other numbers. {found.message()}. They "
            f"are shown as stored; {regenerate_hint(Path(folder))} (or `--refresh-stale` to retrain only those cells).")


def results_table(dataset: str) -> tuple[pd.DataFrame, str | None]:
    """Saved runs and precomputed results on ``dataset``, one row per run/seed.

    A row belongs to the dataset when its fingerprint matches (the same data under any name or
    path); rows without one fall back to the name.
    """
    root = runs_root()
    saved = saved_runs_table(str(root), runs_signature(root))
    pre, message = precomputed_results(str(precomputed_dir()), _precomputed_signature(precomputed_dir()))
    try:
        fingerprint = dataset_card(dataset)["fingerprint"]
    except Exception:  # noqa: BLE001  (unloadable data: match by name; the sidebar shows the error)
        fingerprint = None
    frames = [_on_dataset(f, dataset, fingerprint) for f in (pre, saved) if not f.empty]
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), message


def _on_dataset(rows: pd.DataFrame, name: str, fingerprint: str | None) -> pd.DataFrame:
    same_data = rows["fingerprint"] == fingerprint if fingerprint else False
    same_name = rows["fingerprint"].isna() & (rows["dataset"] == name)
    return rows[same_data | same_name].reset_index(drop=True)


def aggregate_seeds(rows: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Mean and sample std over the seeds of each setup (``mambarec.stats``): ``<metric> ±`` holds the
    std, empty (NaN) for a single seed, which is one seed, not a zero spread."""
    if rows.empty:
        return rows
    # the same seed twice is the same run twice (training is deterministic): count it once, newest first
    rows = rows.drop_duplicates(subset=["source", "setup", "seed"], keep="first")
    extra = [c for c in ("n_params", "s_per_epoch") if c in rows]
    out = []
    for (source, setup), group in rows.groupby(["source", "setup"], sort=False, dropna=False):
        entry = {"source": source, "setup": setup, "seeds": len(group), "model_name": group["model_name"].iloc[0],
                 "r": group["r"].iloc[0]}
        for m in metrics:
            summary = stats.summarize(group[m].tolist())
            entry[m], entry[f"{m} ±"] = summary.mean, (summary.std if summary.std is not None else float("nan"))
        entry.update({c: group[c].mean() for c in extra})
        out.append(entry)
    order = ["source", "setup", "seeds", *[c for m in metrics for c in (m, f"{m} ±")], "model_name", "r", *extra]
    return pd.DataFrame(out)[order]


def add_deltas(table: pd.DataFrame, rows: pd.DataFrame, reference: str,
               metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per setup, the change of each metric against ``reference`` in % of the reference's mean, paired by
    seed over the seeds both ran (``mambarec.stats.paired_difference``): ``Δ <m> %`` is the mean change and
    ``Δ <m> 95% CI`` its t-interval ("1 seed: no interval" when they share one seed)."""
    if reference not in set(table["setup"]) or rows.empty:
        return table
    by_setup = {setup: group.drop_duplicates("seed").set_index("seed") for setup, group in rows.groupby("setup")}
    ref = by_setup.get(reference)
    out = table.copy()
    for m in metrics:
        means, cis = [], []
        for setup in out["setup"]:
            mine = by_setup.get(setup)
            diff = (stats.paired_difference(mine[m].dropna().to_dict(), ref[m].dropna().to_dict())
                    if mine is not None and ref is not None and setup != reference else None)
            rel = diff.relative() if diff is not None else None
            means.append(rel.mean if rel is not None else float("nan"))
            cis.append("" if rel is None else (f"[{rel.low:+.1f}, {rel.high:+.1f}]" if rel.has_interval
                                               else f"{rel.n} seed{'s' if rel.n != 1 else ''}: no interval"))
        out[f"Δ {m} %"], out[f"Δ {m} 95% CI"] = means, cis
    return out


def reference_row(dataset: str, rows: pd.DataFrame | None = None) -> dict:
    """Popularity ranking as a row of the comparison table: from a ``pop`` run among ``rows`` (ranking by
    popularity is deterministic, so any of them is the reference), else computed now."""
    pop = rows[rows["model_name"] == "pop"] if rows is not None and not rows.empty else pd.DataFrame()
    metrics = {m: float(pop[m].iloc[0]) for m in METRICS} if not pop.empty else popularity_reference(dataset)
    return {"source": "reference", "setup": "popularity (most-popular items)", "seeds": 1, "model_name": "pop",
            "r": None,
            **{m: metrics.get(m) for m in METRICS}, **{f"{m} ±": float("nan") for m in METRICS}}


@st.cache_data(max_entries=8, show_spinner="Ranking by popularity...")
def popularity_reference(dataset: str) -> dict[str, float]:
    """Test metrics of most-popular ranking: the ``pop`` model, evaluated."""
    from mambarec.config import PopConfig, RunConfig, TrainConfig
    from mambarec.evaluate import evaluate_model
    from mambarec.model.zoo import build_model

    ds = get_dataset(dataset)
    run = RunConfig(dataset=dataset, model_name="pop", model=PopConfig(), train=TrainConfig(device="cpu"))
    model = build_model(run, ds)
    return dict(evaluate_model(model, ds, ("test",))["test"])


# ---- paired significance test ---------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner="Evaluating per user...")
def per_user_test(checkpoint: str, mtime_ns: int, dataset: str, metric: str = "Recall@20") -> pd.Series:
    """Per-user test ``metric`` of a checkpoint, indexed by user id (``mtime_ns`` keys the cache)."""
    from mambarec.checkpoint import load_model
    from mambarec.evaluate import evaluate_model

    ds = get_dataset(dataset)
    test = evaluate_model(load_model(checkpoint, ds), ds, ("test",), per_user=True)["test"]
    return pd.Series(test["per_user"][metric], index=test["users"], name=metric)


def paired_wilcoxon(checkpoint_a: str, checkpoint_b: str, dataset: str, metric: str = "Recall@20") -> dict:
    """Wilcoxon signed-rank test on the per-user test ``metric`` of two runs (``mambarec.stats``), paired by
    user."""
    a = per_user_test(checkpoint_a, os.stat(checkpoint_a).st_mtime_ns, dataset, metric)
    b = per_user_test(checkpoint_b, os.stat(checkpoint_b).st_mtime_ns, dataset, metric)
    a, b = a.align(b, join="inner")
    res = stats.wilcoxon_per_user(a.to_numpy(), b.to_numpy())
    return {"users": res.users, "differing users": res.differing, "mean A": res.mean_a, "mean B": res.mean_b,
            "mean difference": res.mean_difference, "statistic": res.statistic, "p_value": res.p_value,
            "verdict": res.verdict()}


# ---- checkpoints -----------------------------------------------------------------------------
def checkpoint_summary(ckpt: dict) -> dict:
    """The plain facts of a loaded checkpoint (no tensors), for display."""
    run = ckpt["run"]
    m = ckpt["metrics"]
    return {"setup": setup_label(run.to_dict()), "model_name": run.model_name, "seed": ckpt["seed"],
            "dataset": ckpt["dataset"], "fingerprint": ckpt["dataset_fingerprint"], "versions": ckpt["versions"],
            "resumable": ckpt["resume"] is not None, "best_epoch": m.get("best_epoch"),
            "test": {k: m.get(f"test/{k}") for k in METRICS}, "config": run.to_dict()}


@st.cache_data(max_entries=32, show_spinner="Reading the checkpoint...")
def checkpoint_info(path: str, mtime_ns: int) -> dict:
    from mambarec.checkpoint import load_checkpoint

    return checkpoint_summary(load_checkpoint(path))


def import_checkpoint(data: bytes, filename: str, dataset: str) -> tuple[Path | None, str]:
    """Validate uploaded checkpoint bytes against ``dataset`` and save them as a run folder.

    Returns (the run folder, "") or (None, the reason it was refused).
    """
    from mambarec.checkpoint import CheckpointError
    from mambarec.store import import_checkpoint as store

    try:
        return store(data, filename, get_dataset(dataset), runs_root()), ""
    except CheckpointError as exc:
        return None, str(exc)
