"""``python -m mambarec precompute``: the ablation grid of PAPER.md sections 2, 6 and 7, run once and
shipped as ``precomputed/`` for the app and the README.

Layout of the output folder (written to a temporary folder, then swapped in whole):
* ``results.csv`` / ``results.json``: one row per (dataset, cell, seed): test and valid
  Recall/NDCG/Precision@10/@20, n_params, s_per_epoch, best_epoch, epochs_run (the JSON adds
  every metric and the per-epoch history);
* ``alignment/<dataset>/<cell>_s<seed>.json`` for the headline cells (first seed): alignment
  metrics and 2-D PCA and UMAP coordinates of the "modal" stage of the initialized model
  ("before") and of the trained one ("after"); row i of every list is ``item_id[i]``;
* ``checkpoints/synthetic/<cell>_s<seed>.pt`` and ``labels/synthetic.json`` (title, category) for
  redistributable data only: for ml100k nothing derived from MovieLens content is written
  except numbers keyed by item id (its licence forbids redistribution);
* ``REPORT.md``: the ablation tables beside the paper's claims;
* ``manifest.json``: hashes of the model/training code and of the config schema, every run's
  exact config, dataset fingerprints, budgets, wall time, machine, the sha256 of every file and
  of the manifest itself. ``load_precomputed`` refuses stale or modified artifacts.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mambarec.config import ConfigError, ModelConfig, TrainConfig
from mambarec.grid import BUDGETS, GRID, Budget, Cell, budget_for, grid_cells
from mambarec.report import render_report

FORMAT = "mambarec-precomputed"
FORMAT_VERSION = 1
DEFAULT_OUT = "precomputed"
DEFAULT_DATASETS = ("synthetic", "ml100k")
DEFAULT_SEEDS = (0, 1, 2)
REDISTRIBUTABLE = ("synthetic",)  # datasets whose content (labels, weights) may be shipped
PROJECTIONS = ("pca", "umap")
COORD_DECIMALS = 4
PACKAGE_ROOT = Path(__file__).resolve().parent
# What the numbers depend on: the model, the graphs, the trainer, the metrics, the config, the analysis.
CODE_GLOBS = ("model/**/*.py", "graphs.py", "train.py", "metrics.py", "config.py", "analysis.py")
METRIC_COLUMNS = tuple(f"{split}/{m}@{k}" for split in ("test", "valid") for m in ("Recall", "NDCG", "Precision")
                       for k in (10, 20))
ROW_COLUMNS = ("dataset", "cell", "model_name", "variant", "group", "seed", *METRIC_COLUMNS, "n_params",
               "s_per_epoch", "best_epoch", "epochs_run", "stopped_early", "wall_s")


class PrecomputedError(ValueError):
    """A precomputed folder is missing, unreadable or of another format."""


class StaleArtifactError(PrecomputedError):
    """The artifacts were computed by other model/training code or another config schema."""


class TamperedArtifactError(PrecomputedError):
    """A file or the manifest differs from what ``precompute`` wrote."""


DEFAULT_WORKERS = 2  # one run per core of the 2-core target machine


def available_models() -> tuple[set[str], str]:
    """Model names that can be built now, and why the baselines are missing (empty if they are not)."""
    from mambarec.model import BUILDERS

    reason = ""
    try:
        import mambarec.model.baselines  # noqa: F401  (registers the baselines)
    except Exception as exc:  # a half-written baselines module must not stop the grid
        reason = f"mambarec.model.baselines unavailable ({type(exc).__name__}: {exc})"
    return {"mambarec", *BUILDERS}, reason


# ---- hashes -----------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_files() -> list[Path]:
    files = {p for pattern in CODE_GLOBS for p in PACKAGE_ROOT.glob(pattern) if p.is_file()}
    return sorted(files, key=lambda p: p.relative_to(PACKAGE_ROOT).as_posix())


def current_code_hash() -> str:
    """sha256 over the model and training source files (names and bytes), not the git commit."""
    h = hashlib.sha256()
    for path in code_files():
        h.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def config_schema() -> dict[str, list]:
    def default(f: dataclasses.Field) -> Any:
        value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        return list(value) if isinstance(value, tuple) else value

    return {cls.__name__: [[f.name, default(f)] for f in fields(cls)] for cls in (ModelConfig, TrainConfig)}


def current_schema_hash() -> str:
    """sha256 of the ModelConfig / TrainConfig field names and defaults."""
    return hashlib.sha256(_canonical(config_schema()).encode()).hexdigest()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


# ---- one run ----------------------------------------------------------------------------------
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
    trainer = Trainer(run, dataset, graphs)
    out: dict[str, Any] = {"run": run, "trainer": trainer}
    sigma = run.model.sigma
    if alignment:
        out["alignment"] = {"before": alignment_snapshot(trainer.model, sigma, seed, projections)}
    result = trainer.fit(on_event=on_event)
    if alignment:
        out["alignment"]["after"] = alignment_snapshot(trainer.model, sigma, seed, projections)
    row = {"dataset": name, "cell": cell.name, "model_name": cell.model_name, "variant": cell.variant,
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
               extend: bool = False) -> dict:
    """Run the grid on ``datasets`` (name -> Dataset) and write the folder ``out``; returns the manifest.

    ``out`` is replaced as a whole (a subset run with ``only`` gives a folder holding that subset); a
    folder that is not a precomputed one is never overwritten. ``workers`` > 1 trains that many runs at
    once, each in its own process with one torch thread (each run is deterministic on its own).
    ``extend`` keeps an existing, valid folder's runs and trains only the (dataset, cell, seed) it lacks.
    """
    import torch
    from tqdm import tqdm

    import mambarec.analysis  # noqa: F401  (imported now, so the code hashed below is the code that runs)
    import mambarec.train  # noqa: F401
    started = time.perf_counter()
    code_hash, schema_hash = current_code_hash(), current_schema_hash()
    seeds, cells = [int(s) for s in seeds], grid_cells(only)
    if not seeds:
        raise ConfigError("give at least one seed")
    out = Path(out)
    _check_replaceable(out)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    prev = _previous(out, tmp) if extend else None
    for name, ds in datasets.items() if prev else ():
        old = prev["manifest"]["datasets"].get(name, {}).get("fingerprint")
        if old not in (None, ds.fingerprint()):
            raise PrecomputedError(f"{out}: {name} has changed since its runs were computed (fingerprint {old}, now "
                                   f"{ds.fingerprint()}); regenerate without --extend")
    models, reason = available_models()
    skipped = list(skipped or []) + (prev["manifest"]["skipped"] if prev else [])
    done = {(r["dataset"], r["cell"], int(r["seed"])) for r in prev["results"]} if prev else set()
    jobs = []
    for name in datasets:
        for c in cells:
            if c.model_name not in models:
                skipped.append({"dataset": name, "cell": c.name, "reason": reason or f"no model {c.model_name!r}"})
                continue
            jobs += [(name, c, s) for s in c.seed_list(seeds) if (name, c.name, s) not in done]
    rows, runs = (list(prev["results"]), dict(prev["manifest"]["runs"])) if prev else ([], {})
    fingerprints = {name: ds.fingerprint() for name, ds in datasets.items()}
    knn_ks = {name: tuple(sorted({10, *(x.run_config(name, 0, budget_for(name, epochs)).model.knn_k for x in cells)}))
              for name in datasets}
    tasks = [_Task(name, c, seed, budget_for(name, epochs), c.headline and seed == seeds[0], projections, tmp)
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
            _write_json(tmp / "labels" / f"{name}.json", {"item_id": list(range(ds.n_items)), "title": ds.titles(),
                                                         "category": ds.categories(),
                                                         "popularity": ds.item_popularity().tolist()})
    write_results(tmp, rows)
    manifest = _merge_manifest(prev["manifest"] if prev else None, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code_hash": code_hash, "code_files": [p.relative_to(PACKAGE_ROOT).as_posix() for p in code_files()],
        "schema_hash": schema_hash, "schema": config_schema(),
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
    (tmp / "REPORT.md").write_text(render_report(rows, manifest, _read_alignment(tmp)))
    manifest["files"] = {p.relative_to(tmp).as_posix(): sha256_file(p)
                         for p in sorted(tmp.rglob("*")) if p.is_file()}
    manifest["manifest_sha256"] = hashlib.sha256(_canonical(manifest).encode()).hexdigest()
    _write_json(tmp / "manifest.json", manifest, indent=1)
    _swap_in(tmp, out)
    return manifest


def _previous(out: Path, tmp: Path) -> dict | None:
    """For ``extend``: the valid folder ``out`` (refused if stale or modified), copied into ``tmp``."""
    if not (out / "manifest.json").is_file():
        return None
    prev = load_precomputed(out)
    shutil.copytree(out, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("manifest.json", "REPORT.md"))
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
        _write_json(task.tmp / "alignment" / task.dataset / f"{stem}.json", payload)
        if task.dataset in REDISTRIBUTABLE:
            trainer, result = res["trainer"], res["result"]
            metrics = {k: v for k, v in result.metrics_json(trainer.run, ds).items() if k != "history"}
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


def write_results(folder: Path, rows: list[dict]) -> None:
    """results.json (every metric, history) and results.csv (ROW_COLUMNS)."""
    _write_json(folder / "results.json", {"columns": list(ROW_COLUMNS), "rows": rows})
    with open(folder / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ROW_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, sort_keys=True, separators=None if indent else (",", ":")))


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


# ---- loading ----------------------------------------------------------------------------------
def load_precomputed(directory: str | Path = DEFAULT_OUT) -> dict:
    """Read and validate a precomputed folder.

    Returns ``dir``, ``manifest``, ``results`` (rows, with history), ``alignment``
    ({dataset: {"<cell>_s<seed>": dict}}), ``labels`` ({dataset: dict}), ``checkpoints``
    ({dataset: {"<cell>_s<seed>": Path}}) and ``report`` (REPORT.md). Raises StaleArtifactError
    when the code or config schema changed since, TamperedArtifactError when a file or the
    manifest differs from what was written, PrecomputedError when the folder is not one. The
    manifest's own sha256 is an integrity check, not a signature: it catches edits and corruption,
    not someone who recomputes every hash.
    """
    d = Path(directory)
    regen = f"run `python -m mambarec precompute --out {d}` to regenerate it"
    path = d / "manifest.json"
    if not path.is_file():
        raise PrecomputedError(f"{d}: no manifest.json, so this is not a precomputed folder; {regen}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TamperedArtifactError(f"{path}: unreadable ({exc}); {regen}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PrecomputedError(f"{path}: not a '{FORMAT}' manifest; {regen}")
    claimed = manifest.pop("manifest_sha256", None)
    if claimed != hashlib.sha256(_canonical(manifest).encode()).hexdigest():
        raise TamperedArtifactError(f"{path} does not match its own checksum: it was edited or corrupted after "
                                    f"precompute wrote it; {regen}")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise PrecomputedError(f"{path}: format version {manifest.get('format_version')!r} is newer than this "
                               f"mambarec reads ({FORMAT_VERSION})")
    for key, now, what in (("code_hash", current_code_hash(), "model/training code"),
                           ("schema_hash", current_schema_hash(), "config schema (ModelConfig/TrainConfig fields)")):
        if manifest.get(key) != now:
            raise StaleArtifactError(f"{d} is stale: it was computed with another {what} ({key} "
                                     f"{str(manifest.get(key))[:12]}..., current {now[:12]}...); {regen}")
    files = manifest.get("files")
    if not isinstance(files, dict) or "results.json" not in files:
        raise TamperedArtifactError(f"{path}: the file list is missing; {regen}")
    for rel, digest in files.items():
        target = d / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts or not target.is_file():
            raise TamperedArtifactError(f"{d}: {rel} is missing or outside the folder; {regen}")
        if sha256_file(target) != digest:
            raise TamperedArtifactError(f"{d}: {rel} differs from what precompute wrote (sha256 mismatch); {regen}")
    out: dict[str, Any] = {"dir": d, "manifest": manifest, "alignment": {}, "labels": {}, "checkpoints": {},
                           "results": json.loads((d / "results.json").read_text())["rows"],
                           "report": (d / "REPORT.md").read_text() if "REPORT.md" in files else ""}
    for rel in files:
        parts = Path(rel).parts
        if parts[0] == "alignment" and len(parts) == 3:
            out["alignment"].setdefault(parts[1], {})[Path(rel).stem] = json.loads((d / rel).read_text())
        elif parts[0] == "labels" and len(parts) == 2:
            out["labels"][Path(rel).stem] = json.loads((d / rel).read_text())
        elif parts[0] == "checkpoints" and len(parts) == 3:
            out["checkpoints"].setdefault(parts[1], {})[Path(rel).stem] = d / rel
    return out


def _read_alignment(folder: Path) -> dict:
    out: dict = {}
    for p in sorted((folder / "alignment").glob("*/*.json")):
        out.setdefault(p.parent.name, {})[p.stem] = json.loads(p.read_text())
    return out


# ---- CLI --------------------------------------------------------------------------------------
def add_precompute_command(subparsers) -> None:
    p = subparsers.add_parser("precompute", help="run the ablation grid and write precomputed/ (results, alignment "
                                                 "maps, REPORT.md, manifest)")
    p.add_argument("--out", default=DEFAULT_OUT, help="folder to (re)write as a whole [default: precomputed]")
    p.add_argument("--datasets", default=",".join(DEFAULT_DATASETS), help="comma-separated dataset names")
    p.add_argument("--epochs", type=int, default=None,
                   help="epoch cap for every dataset [default per dataset: " + ", ".join(
                       f"{k} {b.epochs} (patience {b.patience})" for k, b in BUDGETS.items()) + "]")
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)),
                   help="comma-separated seeds; 'all'-seed cells use every one, the others the first")
    p.add_argument("--only", default=None, help="comma-separated cell names (default: the whole grid): "
                                                + ", ".join(c.name for c in GRID))
    p.add_argument("--data-dir", default=None, help="folder holding named datasets (default $MAMBAREC_DATA)")
    p.add_argument("--extend", action="store_true",
                   help="keep the existing folder's runs and train only the missing (dataset, cell, seed)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"runs trained at once, one process and one torch thread each [default: {DEFAULT_WORKERS}]")
    p.set_defaults(func=cmd_precompute)


def cmd_precompute(args: argparse.Namespace) -> int:
    from mambarec.data import DatasetError, load_dataset

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError as exc:
        raise ConfigError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from exc
    only = args.only.split(",") if args.only else None
    grid_cells(only)  # unknown names fail before any data is loaded
    datasets, skipped = {}, []
    for name in (n.strip() for n in args.datasets.split(",") if n.strip()):
        try:
            datasets[name] = load_dataset(name, data_dir=args.data_dir)
        except DatasetError as exc:
            print(f"warning: skipping dataset {name}: {exc}", file=sys.stderr)
            skipped.append({"dataset": name, "cell": "*", "reason": str(exc)})
    if not datasets:
        raise ConfigError("no dataset could be loaded; see the warnings above")
    manifest = precompute(args.out, datasets, seeds=seeds, epochs=args.epochs, only=only, skipped=skipped,
                          workers=args.workers, extend=args.extend)
    print(json.dumps({"out": args.out, "runs": len(manifest["runs"]), "wall_time_s": round(manifest["wall_time_s"], 1),
                      "skipped": manifest["skipped"]}, indent=1))
    return 0


__all__ = [
    "run_cell", "precompute", "load_precomputed", "current_code_hash", "current_schema_hash", "PrecomputedError",
    "StaleArtifactError", "TamperedArtifactError", "add_precompute_command",
]
