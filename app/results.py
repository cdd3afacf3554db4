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

from app.state import dataset_card, get_dataset, precomputed_dir, runs_root, runs_signature, setup_label
from mambarec.config import RunConfig, TrainConfig

METRICS = tuple(f"{m}@{k}" for k in (10, 20) for m in ("Recall", "NDCG", "Precision"))
PRECOMPUTE_HINT = "no precomputed results yet: run `python -m mambarec precompute`"


@st.cache_data(max_entries=16, show_spinner=False)
def saved_runs_table(root: str, signature: tuple) -> pd.DataFrame:
    """One row per saved run folder (``signature`` only keys the cache)."""
    from mambarec.checkpoint import CHECKPOINT_NAME
    from mambarec.runs import list_runs

    rows = []
    for entry in list_runs(Path(root)):
        cfg, m = entry["config"], entry["metrics"]
        ckpt = entry["path"] / CHECKPOINT_NAME
        rows.append({
            "source": "saved", "run": entry["id"], "setup": setup_label(cfg),
            "family": setup_label(cfg, ignore=("reduction_factor",)), "dataset": m.get("dataset", cfg.get(
                "dataset")), "model_name": cfg.get("model_name"), "variant": cfg.get("model", {}).get("variant"),
            "r": cfg.get("model", {}).get("reduction_factor"), "seed": cfg.get("train", {}).get("seed"),
            **{k: m.get(f"test/{k}") for k in METRICS}, "valid Recall@20": m.get("valid/Recall@20"),
            "n_params": m.get("n_params"), "s_per_epoch": m.get("s_per_epoch"), "best_epoch": m.get("best_epoch"),
            "epochs_run": m.get("epochs_run"), "stopped": bool(m.get("cancelled")),
            "fingerprint": m.get("dataset_fingerprint"), "checkpoint": str(ckpt) if ckpt.is_file() else None,
        })
    return pd.DataFrame(rows)


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
    """``mambarec.precompute.load_precomputed`` as comparison rows; (empty, why) when unavailable."""
    try:
        from mambarec.precompute import PrecomputedError, StaleArtifactError, load_precomputed
    except ImportError:
        return pd.DataFrame(), PRECOMPUTE_HINT
    if not (Path(folder) / "manifest.json").is_file():
        return pd.DataFrame(), PRECOMPUTE_HINT
    try:
        loaded = load_precomputed(Path(folder))
    except StaleArtifactError as exc:
        return pd.DataFrame(), f"The precomputed results are stale and not shown: {exc}"
    except PrecomputedError as exc:
        return pd.DataFrame(), f"The precomputed results cannot be used: {exc}"
    runs = loaded["manifest"].get("runs", {})
    fingerprints = {name: entry.get("fingerprint") for name, entry in loaded["manifest"].get("datasets", {}).items()}
    rows = []
    for row in loaded["results"]:
        ds, cell, seed = row.get("dataset"), row.get("cell"), row.get("seed")
        cfg = runs.get(f"{ds}/{cell}/s{seed}", {"model_name": row.get("model_name"), "model": {}, "train": {}})
        ckpt = loaded["checkpoints"].get(ds, {}).get(f"{cell}_s{seed}")
        rows.append({
            "source": "precomputed", "run": f"{cell} s{seed}", "setup": setup_label(cfg),
            "family": setup_label(cfg, ignore=("reduction_factor",)), "dataset": ds,
            "model_name": row.get("model_name"), "variant": row.get("variant"),
            "r": cfg.get("model", {}).get("reduction_factor"), "seed": seed,
            **{m: row.get(f"test/{m}") for m in METRICS}, "valid Recall@20": row.get("valid/Recall@20"),
            "n_params": row.get("n_params"), "s_per_epoch": row.get("s_per_epoch"),
            "best_epoch": row.get("best_epoch"), "epochs_run": row.get("epochs_run"), "stopped": False,
            "fingerprint": fingerprints.get(ds), "checkpoint": str(ckpt) if ckpt else None,
        })
    return pd.DataFrame(rows), None


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
    """Mean and std over the seeds of each setup (``<metric> ±`` holds the std; 0 for one seed)."""
    if rows.empty:
        return rows
    # the same seed twice is the same run twice (training is deterministic): count it once, newest first
    rows = rows.drop_duplicates(subset=["source", "setup", "seed"], keep="first")
    extra = [c for c in ("n_params", "s_per_epoch") if c in rows]
    grouped = rows.groupby(["source", "setup"], sort=False, dropna=False)
    mean = grouped[list(metrics) + extra].mean()
    std = grouped[list(metrics)].std(ddof=1).fillna(0.0).add_suffix(" ±")
    firsts = grouped[["model_name", "r"]].first()
    out = pd.concat([mean, std, grouped.size().rename("seeds"), firsts], axis=1).reset_index()
    order = ["source", "setup", "seeds", *[c for m in metrics for c in (m, f"{m} ±")], "model_name", "r", *extra]
    return out[order]


def add_deltas(table: pd.DataFrame, reference: str, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Relative change (%) of each metric against the row whose ``setup`` is ``reference``."""
    ref = table[table["setup"] == reference]
    if ref.empty:
        return table
    out = table.copy()
    for m in metrics:
        base = float(ref.iloc[0][m])
        out[f"Δ {m} %"] = (out[m] - base) / base * 100.0 if base else float("nan")
    return out


def reference_row(dataset: str, rows: pd.DataFrame | None = None) -> dict:
    """Popularity ranking as a row of the comparison table: from a ``pop`` run among ``rows`` (ranking by
    popularity is deterministic, so any of them is the reference), else computed now."""
    pop = rows[rows["model_name"] == "pop"] if rows is not None and not rows.empty else pd.DataFrame()
    metrics = {m: float(pop[m].iloc[0]) for m in METRICS} if not pop.empty else popularity_reference(dataset)
    return {"source": "reference", "setup": "popularity (most-popular items)", "seeds": 1, "model_name": "pop",
            "r": None,
            **{m: metrics.get(m) for m in METRICS}, **{f"{m} ±": 0.0 for m in METRICS}}


@st.cache_data(max_entries=8, show_spinner="Ranking by popularity...")
def popularity_reference(dataset: str) -> dict[str, float]:
    """Test metrics of most-popular ranking: a ``pop`` model run when the zoo has one."""
    ds = get_dataset(dataset)
    try:
        import mambarec.model.baselines  # noqa: F401  (registers pop)
        from mambarec.model import BUILDERS
    except ImportError:
        BUILDERS = {}
    if "pop" in BUILDERS:
        from mambarec.train import Trainer

        run = RunConfig(dataset=dataset, model_name="pop", train=TrainConfig(device="cpu"))
        return dict(Trainer(run, ds).fit().test)
    import torch

    from mambarec.metrics import embedding_topk_metrics

    # score(u, i) = popularity(i): a dot product of one-column embeddings, ties by the lower id
    users = torch.ones(ds.n_users, 1)
    items = torch.as_tensor(ds.item_popularity(), dtype=torch.float32).view(-1, 1)
    result = embedding_topk_metrics(users, items, ds.matrix("train"), ds.matrix("test"))
    return {k: v for k, v in result.items() if isinstance(v, float)}


# ---- paired significance test ---------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner="Evaluating per user...")
def per_user_test(checkpoint: str, mtime_ns: int, dataset: str, metric: str = "Recall@20") -> pd.Series:
    """Per-user test ``metric`` of a checkpoint, indexed by user id (``mtime_ns`` keys the cache)."""
    from mambarec.checkpoint import load_checkpoint, restore_trainer

    ds = get_dataset(dataset)
    trainer = restore_trainer(load_checkpoint(checkpoint, expect_fingerprint=ds.fingerprint()), ds)
    test = trainer.evaluate(("test",), per_user=True)["test"]
    return pd.Series(test["per_user"][metric], index=test["users"], name=metric)


def paired_wilcoxon(checkpoint_a: str, checkpoint_b: str, dataset: str, metric: str = "Recall@20",
                    alpha: float = 0.05) -> dict:
    """Wilcoxon signed-rank test on the per-user test ``metric`` of two runs (same users, paired)."""
    from scipy.stats import wilcoxon

    a = per_user_test(checkpoint_a, os.stat(checkpoint_a).st_mtime_ns, dataset, metric)
    b = per_user_test(checkpoint_b, os.stat(checkpoint_b).st_mtime_ns, dataset, metric)
    a, b = a.align(b, join="inner")
    diff = a - b
    out = {"users": len(diff), "differing users": int((diff != 0).sum()), "mean A": float(a.mean()),
           "mean B": float(b.mean()), "mean difference": float(diff.mean()), "statistic": None, "p_value": None}
    if out["differing users"] == 0:
        out["verdict"] = "The two runs give every user the same score: no difference at all."
        return out
    res = wilcoxon(a.to_numpy(), b.to_numpy(), zero_method="wilcox", alternative="two-sided")
    out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
    better = "A" if out["mean difference"] > 0 else "B"
    if out["p_value"] < alpha:
        out["verdict"] = (f"{better} is better and the difference is more than noise "
                          f"(p = {out['p_value']:.3g} < {alpha}).")
    else:
        out["verdict"] = (f"The difference is within noise (p = {out['p_value']:.3g} >= {alpha}): "
                          "do not read it as a real gain.")
    return out


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
    from mambarec.runs import import_checkpoint as store

    try:
        return store(data, filename, get_dataset(dataset), runs_root()), ""
    except CheckpointError as exc:
        return None, str(exc)
