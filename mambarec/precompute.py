"""``python -m mambarec precompute``: run the ablation grid (``mambarec.grid``) once and ship it as
``precomputed/`` for the app and the README (docs/architecture.md section 4).

This module runs cells and writes the folder; its format, and everything that only reads it, is
``mambarec.artifacts``. Every run trains in a worker process with one torch thread (two at once by
default); each cell's numerics probe (``mambarec.probes``) goes into the manifest, so later code
can tell whether the stored numbers are still what it computes.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mambarec import probes
from mambarec.artifacts import (
    FORMAT,
    FORMAT_VERSION,
    METRIC_COLUMNS,
    REDISTRIBUTABLE,
    PrecomputedError,
    load_precomputed,
    read_alignment,
    seal_manifest,
    write_json,
    write_results,
)
from mambarec.config import ConfigError
from mambarec.grid import GRID, Budget, Cell, budget_for, grid_cells
from mambarec.report import render_report

DEFAULT_DATASETS = ("synthetic", "ml100k")
DEFAULT_SEEDS = (0, 1, 2)
PROJECTIONS = ("pca", "umap")
COORD_DECIMALS = 4
DEFAULT_WORKERS = 2  # one run per core of the 2-core target machine
# Replaying stored float32 runs on another machine (``replay_first_epochs``): the relative difference a
# loss part may show and still count as float noise. Sharp or cancelling parts amplify noise: a 1e-7
# perturbation of the initial weights moves InfoNCE at tau = 0.01 by up to 2e-3 and the MMD (a difference
# of kernel means) by 3e-4 after two epochs; the other parts stay below 1e-4 (docs/architecture.md 4).
REPLAY_REL = {"loss/cl": 1e-2, "loss/mmd": 1e-2}
REPLAY_DEFAULT_REL = 1e-4


def alignment_snapshot(model, sigma: float, seed: int, projections: tuple[str, ...] = PROJECTIONS) -> dict:
    """Alignment metrics and joint 2-D maps of the model's "modal" stage."""
    from mambarec.analysis import alignment_metrics, modality_embeddings, project_joint

    emb = modality_embeddings(model, "modal")
    snap: dict[str, Any] = {"metrics": alignment_metrics(emb["visual"], emb["text"], sigma)}
    for method in projections:
        v, t = project_joint(emb["visual"], emb["text"], method=method, seed=seed)
        snap[method] = {"visual": np.round(v, COORD_DECIMALS).tolist(), "text": np.round(t, COORD_DECIMALS).tolist()}
    return snap


def run_cell(dataset, cell: Cell, seed: int, budget: Budget, graphs=None, on_event: Callable | None = None,
             alignment: bool = False, projections: tuple[str, ...] = PROJECTIONS, name: str | None = None) -> dict:
    """Train one (cell, seed) on ``dataset`` (called ``name``, default its own name); returns ``row``,
    ``history``, ``trainer``, ``result``, ``run`` and, with ``alignment``, the before/after snapshots."""
    from mambarec.train import Trainer

    name = name or dataset.name
    run = cell.run_config(name, seed, budget)
    t0 = time.perf_counter()
    trainer = Trainer.for_run(run, dataset, graphs)
    out: dict[str, Any] = {"run": run, "trainer": trainer}
    sigma = getattr(run.model, "sigma", 1.0)  # the MMD's bandwidth; models without MMD: the paper's default
    if alignment:
        out["alignment"] = {"before": alignment_snapshot(trainer.model, sigma, seed, projections)}
    result = trainer.fit(on_event=on_event)
    if alignment:
        out["alignment"]["after"] = alignment_snapshot(trainer.model, sigma, seed, projections)
    row = {"dataset": name, "cell": cell.name, "model_name": run.model_name, "variant": run.variant or "",
           "group": cell.group, "seed": seed}
    split_metrics = {"test": result.test, "valid": result.valid}
    row.update({c: split_metrics[c.split("/", 1)[0]].get(c.split("/", 1)[1]) for c in METRIC_COLUMNS})
    row.update(n_params=result.n_params, s_per_epoch=result.s_per_epoch, best_epoch=result.best_epoch,
               epochs_run=result.epochs_run, stopped_early=result.stopped_early, wall_s=time.perf_counter() - t0)
    row["all_metrics"] = {**{f"test/{k}": v for k, v in result.test.items()},
                          **{f"valid/{k}": v for k, v in result.valid.items()}}
    out.update(row=row, history=result.history, result=result)
    return out


# ---- the whole grid ---------------------------------------------------------------------------
def precompute(out: str | Path, datasets: dict, seeds: Iterable[int] = DEFAULT_SEEDS, epochs: int | None = None,
               only: Iterable[str] | None = None, projections: tuple[str, ...] = PROJECTIONS,
               progress: bool = True, skipped: list[dict] | None = None, workers: int = 1,
               extend: bool = False, refresh_stale: bool = False) -> dict:
    """Run the grid on ``datasets`` (name -> Dataset) and write the folder ``out``; returns the manifest.

    ``out`` is replaced as a whole (a subset run with ``only`` gives a folder holding that subset); a
    folder that is not a precomputed one is never overwritten. ``workers`` > 1 trains that many runs at
    once, each in its own process with one torch thread (each run is deterministic on its own).
    ``extend`` keeps an existing folder's runs and trains only the (dataset, cell, seed) it lacks; it
    refuses a stale folder (mixing numbers of two codes), unless ``refresh_stale``, which also
    retrains every run of the cells whose probes moved.
    """
    import torch
    from tqdm import tqdm

    started = time.perf_counter()
    seeds, cells = [int(s) for s in seeds], grid_cells(only)
    if not seeds:
        raise ConfigError("give at least one seed")
    out = Path(out)
    _check_replaceable(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    prev = _previous(out, tmp, refresh_stale, progress) if extend or refresh_stale else None
    for name, ds in datasets.items() if prev else ():
        old = prev["manifest"]["datasets"].get(name, {}).get("fingerprint")
        if old not in (None, ds.fingerprint()):
            raise PrecomputedError(f"{out}: {name} has changed since its runs were computed (fingerprint {old}, now "
                                   f"{ds.fingerprint()}); regenerate without --extend")
    skipped = list(skipped or []) + (prev["manifest"]["skipped"] if prev else [])
    done = {(r["dataset"], r["cell"], int(r["seed"])) for r in prev["results"]} if prev else set()
    redo = prev["redo"] if prev else {}
    jobs = []
    for name in datasets:
        for c in cells:
            wanted = sorted(set(c.seed_list(seeds)) | set(redo.get((name, c.name), ())))
            jobs += [(name, c, s) for s in wanted if (name, c.name, s) not in done]
    rows, runs = (list(prev["results"]), dict(prev["manifest"]["runs"])) if prev else ([], {})
    fingerprints = {name: ds.fingerprint() for name, ds in datasets.items()}
    knn_ks = {name: graph_ks([x.run_config(name, 0, budget_for(name, epochs)) for x in cells]) for name in datasets}
    first = {(name, c.name): min(s for n, x, s in jobs if (n, x.name) == (name, c.name)) for name, c, _ in jobs}
    tasks = [_Task(name, c, seed, budget_for(name, epochs), c.headline and seed == first[(name, c.name)]
                   and not (tmp / "alignment" / name / f"{c.name}_s{seed}.json").exists(), projections, tmp)
             for name, c, seed in jobs]
    bar = tqdm(total=len(tasks), unit="run", dynamic_ncols=True, disable=not progress, file=sys.stderr)
    try:
        for task, res in zip(tasks, _run_tasks(tasks, datasets, knn_ks, workers, bar), strict=True):
            if res["fingerprint"] != fingerprints[task.dataset]:  # one Dataset object serves every cell
                raise PrecomputedError(f"{task.dataset}/{task.cell.name} s{task.seed} modified its dataset")
            rows.append({**res["row"], "history": res["history"]})
            runs[f"{task.dataset}/{task.cell.name}/s{task.seed}"] = res["run"]
    finally:
        bar.close()
    for name, ds in datasets.items():
        if name in REDISTRIBUTABLE:
            write_json(tmp / "labels" / f"{name}.json", {"item_id": list(range(ds.n_items)), "title": ds.titles(),
                                                        "category": ds.categories(),
                                                        "popularity": ds.item_popularity().tolist()})
    write_results(tmp, rows)
    all_cells = {r["cell"] for r in rows}
    manifest = _merge_manifest(prev["manifest"] if prev else None, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seeds": seeds, "only": [c.name for c in cells] if only is not None else None,
        "budgets": {name: dataclasses.asdict(budget_for(name, epochs)) for name in datasets},
        "epochs_override": epochs, "projections": list(projections),
        "datasets": {name: _dataset_entry(ds, fingerprints[name]) for name, ds in datasets.items()},
        "cells": {c.name: c.describe() for c in cells}, "runs": runs, "skipped": skipped,
        "wall_time_s": time.perf_counter() - started,
        "machine": {"cpu_count": os.cpu_count(), "workers": workers,
                    "torch_threads": 1 if workers > 1 else torch.get_num_threads(),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "cuda": torch.cuda.is_available()},
    })
    manifest.update(probe_section([c for c in GRID if c.name in all_cells], progress))
    (tmp / "REPORT.md").write_text(render_report(rows, manifest, read_alignment(tmp)))
    seal_manifest(tmp, manifest)
    _swap_in(tmp, out)
    return manifest


def graph_ks(runs) -> tuple[int, ...]:
    """Every k of the k-NN graphs the runs' models need (each model declares its own)."""
    from mambarec.model.zoo import model_class

    return tuple(sorted({k for run in runs for k in model_class(run.model_name).graph_ks(run.model)}))


def probe_section(cells: list[Cell], progress: bool = False) -> dict:
    """The manifest's probes: today's probe of every cell, the tolerance and the probe's settings."""
    return {"probes": probes.cached_probes(probes.cells_to_runs(cells), progress),
            "probe_tolerance": dataclasses.asdict(probes.TOLERANCE),
            "probe_settings": {"train": dataclasses.asdict(probes.PROBE_TRAIN), "torch_threads": 1,
                               "dtype": probes.PROBE_DTYPE, "dataset": probes.probe_dataset().summary()}}


def _previous(out: Path, tmp: Path, refresh_stale: bool, progress: bool) -> dict | None:
    """For ``extend``: the folder ``out`` copied into ``tmp``, without the runs of cells whose probes moved
    (``refresh_stale``; they are listed in ``redo`` with their seeds), or refused when stale."""
    from mambarec.artifacts import staleness

    if not (out / "manifest.json").is_file():
        return None
    prev = load_precomputed(out)
    found = staleness(prev["manifest"], progress)
    if not found.current and not refresh_stale:
        raise PrecomputedError(f"{out} is stale ({found.message()}); extending it would mix the numbers of two "
                               "codes: add --refresh-stale to retrain the cells that moved, or regenerate it")
    moved = set(found.moved) | set(found.unprobed)
    shutil.copytree(out, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("manifest.json", "REPORT.md"))
    redo: dict[tuple[str, str], list[int]] = {}
    for r in prev["results"]:
        if r["cell"] in moved:
            redo.setdefault((r["dataset"], r["cell"]), []).append(int(r["seed"]))
            stem = f"{r['cell']}_s{r['seed']}"
            for sub in ("alignment", "checkpoints"):
                for ext in ("json", "pt"):
                    (tmp / sub / r["dataset"] / f"{stem}.{ext}").unlink(missing_ok=True)
    prev["results"] = [r for r in prev["results"] if r["cell"] not in moved]
    prev["manifest"]["runs"] = {k: v for k, v in prev["manifest"]["runs"].items() if k.split("/")[1] not in moved}
    prev["redo"] = redo
    return prev


def _merge_manifest(prev: dict | None, new: dict) -> dict:
    """The manifest of an extended folder: the union of the previous runs, cells, datasets and budgets."""
    if prev is None:
        return new
    merged = dict(new)
    for key in ("cells", "datasets", "budgets"):
        merged[key] = {**prev.get(key, {}), **new[key]}
    merged["seeds"] = sorted(set(prev.get("seeds", [])) | set(new["seeds"]))
    merged["only"] = None if prev.get("only") is None else sorted(set(prev["only"]) | set(new["only"] or []))
    merged["wall_time_s"] = prev.get("wall_time_s", 0.0) + new["wall_time_s"]
    merged["machine"] = prev.get("machine", new["machine"])
    return merged


@dataclass(frozen=True)
class _Task:
    dataset: str
    cell: Cell
    seed: int
    budget: Budget
    headline: bool
    projections: tuple[str, ...]
    tmp: Path


_WORKER: dict[str, Any] = {}  # per process: the datasets and their graphs, built once


def _init_worker(datasets: dict, knn_ks: dict, threads: int | None) -> None:
    _WORKER.update(datasets=datasets, knn_ks=knn_ks, graphs={}, threads=threads)


def _execute(task: _Task, on_event: Callable | None = None) -> dict:
    """Train one task and write its alignment file and (redistributable data) checkpoint."""
    import torch

    from mambarec.checkpoint import save_checkpoint
    from mambarec.graphs import build_graphs
    from mambarec.store import metrics_payload

    ds = _WORKER["datasets"][task.dataset]
    if _WORKER["threads"] is not None:  # set per task: a library may have changed it since the last one
        torch.set_num_threads(_WORKER["threads"])
    if task.dataset not in _WORKER["graphs"]:
        _WORKER["graphs"][task.dataset] = build_graphs(ds, _WORKER["knn_ks"][task.dataset])
    res = run_cell(ds, task.cell, task.seed, task.budget, _WORKER["graphs"][task.dataset], on_event,
                   alignment=task.headline, projections=task.projections, name=task.dataset)
    stem = f"{task.cell.name}_s{task.seed}"
    if task.headline:
        payload = {"dataset": task.dataset, "cell": task.cell.name, "seed": task.seed, "stage": "modal",
                   "item_id": list(range(ds.n_items)), **res["alignment"]}
        write_json(task.tmp / "alignment" / task.dataset / f"{stem}.json", payload)
        if task.dataset in REDISTRIBUTABLE:
            trainer, result = res["trainer"], res["result"]
            metrics = {k: v for k, v in metrics_payload(result, trainer.run, ds).items() if k != "history"}
            save_checkpoint(task.tmp / "checkpoints" / task.dataset / f"{stem}.pt", trainer.run,
                            trainer.model.state_dict(), metrics, task.dataset, ds.fingerprint(), resume=None)
    return {"row": res["row"], "history": res["history"], "run": res["run"].to_dict(), "fingerprint": ds.fingerprint()}


def _run_tasks(tasks: list[_Task], datasets: dict, knn_ks: dict, workers: int, bar):
    """Yield each task's result in task order, inline or from a pool of ``workers`` processes."""
    if workers <= 1:
        _init_worker(datasets, knn_ks, None)
        for task in tasks:
            bar.set_description(f"{task.dataset}/{task.cell.name} s{task.seed}")
            yield _execute(task, _bar_event(bar, task.budget.epochs))
            bar.update(1)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(datasets, knn_ks, 1)) as pool:
        futures = [pool.submit(_execute, task) for task in tasks]
        for task, fut in zip(tasks, futures, strict=True):
            bar.set_description(f"{task.dataset}/{task.cell.name} s{task.seed}")
            yield fut.result()
            bar.update(1)


def _bar_event(bar, total_epochs: int) -> Callable:
    def on_event(e) -> None:
        bar.set_postfix(epoch=f"{e.epoch}/{total_epochs}", valid_R20=f"{e.valid.get('Recall@20', float('nan')):.4f}",
                        refresh=True)

    return on_event


def _dataset_entry(ds, fingerprint: str) -> dict:
    """Fingerprint and counts only: nothing of the content."""
    return {"fingerprint": fingerprint, "n_users": ds.n_users, "n_items": ds.n_items,
            "n_train": len(ds.train), "n_valid": len(ds.valid), "n_test": len(ds.test),
            "visual_dim": int(ds.visual.shape[1]), "text_dim": int(ds.text.shape[1])}


def _check_replaceable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").is_file())):
        raise PrecomputedError(f"{out} exists and is not a precomputed folder (no manifest.json); "
                               "choose another --out or remove it yourself")


def _swap_in(tmp: Path, out: Path) -> None:
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


# ---- probes for a folder computed before them ---------------------------------------------------
def replay_first_epochs(folder: str | Path, datasets: dict, epochs: int = 2, workers: int = DEFAULT_WORKERS,
                        progress: bool = True) -> list[dict]:
    """Retrain the first seed of every stored cell for ``epochs`` epochs on its real data (one thread per
    run, as ``precompute`` trains) and compare with the stored history of those epochs.

    Returns one entry per run: ``key``, ``losses_moved`` (losses and learning rates beyond float32 noise,
    ``REPLAY_REL``), ``max_loss_rel`` and ``metric_swaps`` (metrics that moved: rank swaps of nearly tied
    items, which another CPU's kernels can cause).
    """
    from tqdm import tqdm

    pre = load_precomputed(folder)
    firsts: dict[tuple[str, str], dict] = {}
    for r in pre["results"]:
        key = (r["dataset"], r["cell"])
        if r["dataset"] in datasets and (key not in firsts or int(r["seed"]) < int(firsts[key]["seed"])):
            firsts[key] = r
    jobs = [(f"{d}/{c}/s{r['seed']}", pre["manifest"]["runs"][f"{d}/{c}/s{r['seed']}"], r["history"][:epochs], epochs)
            for (d, c), r in firsts.items()]
    jobs.sort(key=lambda j: -(j[2][0].get("epoch_s", 0.0) if j[2] else 0.0))  # the slowest first
    bar = tqdm(total=len(jobs), unit="run", desc="replay", disable=not progress, file=sys.stderr)
    out = []
    try:
        for res in _map_in_workers(_replay_one, jobs, datasets, workers):
            out.append(res)
            bar.update(1)
    finally:
        bar.close()
    return out


def _replay_one(key: str, config: dict, stored: list[dict], epochs: int) -> dict:
    from mambarec.config import RunConfig
    from mambarec.train import Trainer

    dataset = _WORKER["datasets"][key.split("/")[0]]
    config = dict(config, train=dict(config["train"], epochs=epochs))
    result = Trainer.for_run(RunConfig.from_dict(config), dataset).fit()
    moved, swaps, max_rel = [], [], 0.0
    for old, new in zip(stored, result.history, strict=False):
        for name, value in old.items():
            if name in probes.SKIP_COLUMNS or name == "epoch" or not isinstance(value, float):
                continue
            now = new.get(name)
            if name.startswith(("valid/", "test/")):
                if now is None or abs(now - value) > probes.TOLERANCE.metric_abs:
                    swaps.append(f"epoch {old['epoch']} {name}: {value:.6g} -> {now}")
                continue
            rel = abs(now - value) / max(abs(value), abs(now), 1e-300)
            max_rel = max(max_rel, rel)
            if rel > REPLAY_REL.get(name, REPLAY_DEFAULT_REL):
                moved.append(f"epoch {old['epoch']} {name}: {value:.8g} -> {now:.8g} (relative {rel:.1e})")
    return {"key": key, "epochs": min(len(stored), len(result.history)), "losses_moved": moved,
            "max_loss_rel": max_rel, "metric_swaps": swaps}


def adopt_probes(folder: str | Path, datasets: dict, workers: int = DEFAULT_WORKERS, progress: bool = True) -> dict:
    """Give a folder written before probes existed (format 1) today's probes, without retraining it.

    Allowed only when today's code reproduces the stored runs: ``replay_first_epochs`` must find every
    loss of the first two epochs within float32 noise (``REPLAY_REL``). The replay is recorded in the
    manifest.
    """
    folder = Path(folder)
    replay = replay_first_epochs(folder, datasets, workers=workers, progress=progress)
    moved = [r for r in replay if r["losses_moved"]]
    if moved:
        raise PrecomputedError(f"{folder}: today's code does not reproduce {len(moved)} stored run(s), e.g. "
                               f"{moved[0]['key']}: {moved[0]['losses_moved'][:2]}; regenerate the folder instead")
    pre = load_precomputed(folder)
    manifest = {k: v for k, v in pre["manifest"].items()
                if k not in ("code_hash", "code_files", "schema_hash", "schema", "files")}
    manifest["format_version"] = FORMAT_VERSION
    manifest.update(probe_section([c for c in GRID if c.name in manifest.get("cells", {})], progress))
    manifest["probes_adopted"] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "how": "the first seed of every stored cell replayed for 2 epochs with today's code (float32, one thread); "
               f"every loss within float32 noise (relative {REPLAY_DEFAULT_REL:g}; {REPLAY_REL})",
        "runs": {r["key"]: {"max_loss_rel": r["max_loss_rel"], "metric_swaps": len(r["metric_swaps"])}
                 for r in replay},
    }
    return rerender(folder, manifest)


def rerender(folder: str | Path, manifest: dict | None = None) -> dict:
    """Rewrite REPORT.md from the stored rows with today's report code (no run is retrained), and reseal."""
    folder = Path(folder)
    pre = load_precomputed(folder)
    manifest = manifest if manifest is not None else pre["manifest"]
    (folder / "REPORT.md").write_text(render_report(pre["results"], manifest, pre["alignment"]))
    return seal_manifest(folder, manifest)


def _map_in_workers(fn: Callable, jobs: list[tuple], datasets: dict, workers: int):
    """Yield ``fn(*job)`` for every job, in order, inline or in ``workers`` one-thread processes."""
    if workers <= 1:
        _init_worker(datasets, {}, None)
        for job in jobs:
            yield fn(*job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(datasets, {}, 1)) as pool:
        futures = [pool.submit(_with_threads, fn, *job) for job in jobs]
        for fut in futures:
            yield fut.result()


def _with_threads(fn: Callable, *args):
    import torch

    if _WORKER.get("threads") is not None:
        torch.set_num_threads(_WORKER["threads"])
    return fn(*args)


__all__ = ["run_cell", "precompute", "replay_first_epochs", "adopt_probes", "rerender", "probe_section",
           "DEFAULT_DATASETS", "DEFAULT_SEEDS", "DEFAULT_WORKERS"]
