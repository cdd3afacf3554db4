"""``python -m mambarec precompute``: run the ablation grid (``mambarec.grid``) and ship it as ``precomputed/``
for the app and the README (docs/architecture.md section 4).

This module plans the grid's tasks, hands them to an engine (``mambarec.engines``: this machine's
process pool, or Ray), checks and journals every result as it arrives (``mambarec.journal``) and
writes the folder in the format of ``mambarec.artifacts``. Every cell's numerics probe
(``mambarec.probes``) goes into the manifest; a result whose probe differs from the driver's (a
worker running other code) is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from mambarec import probes
from mambarec.artifacts import (
    FORMAT,
    FORMAT_VERSION,
    PrecomputedError,
    dataset_folder,
    is_redistributable,
    key_parts,
    read_alignment,
    seal_manifest,
    write_json,
    write_results,
)
from mambarec.config import ConfigError, RunConfig, setup_key
from mambarec.config.fields import choices_text
from mambarec.config.params import LENGTH_FIELDS
from mambarec.engine_ray import require_ray, run_ray
from mambarec.engines import DEFAULT_WORKERS, run_local
from mambarec.extension import check_extension, kept_probes, merge_manifest, previous_folder
from mambarec.grid import GRID, MAIN_DATASETS, MAX_SEEDS, SCENARIO_DATASETS, Cell, budget_for, cells_for, grid_cells
from mambarec.journal import Journal
from mambarec.lifeline import alive
from mambarec.report import curve_files, render_report
from mambarec.store import RunStoreError, holding
from mambarec.tasks import PROJECTIONS, Task

DEFAULT_DATASETS = (*MAIN_DATASETS, *SCENARIO_DATASETS)
DEFAULT_SEEDS = tuple(range(MAX_SEEDS))
ENGINES = ("local", "ray")


class TaskRefused(RuntimeError):
    """A worker's result does not match the driver's code or data."""


def plan(datasets: dict, cells: list[Cell], seeds: list[int], epochs: int | None, projections: tuple[str, ...],
         done: set[tuple[str, str, int]] = frozenset(), redo: dict | None = None, device: str = "cpu") -> list[Task]:
    """The tasks to run: every (dataset, cell, seed) wanted and not ``done``; the first seed of a headline cell
    also writes the alignment maps (and, on redistributable data, the checkpoint)."""
    redo = redo or {}
    tasks = []
    for name in datasets:
        for c in cells_for(name, cells):
            wanted = sorted(set(c.seed_list(seeds)) | set(redo.get((name, c.name), ())))
            first = min(wanted) if wanted else None
            tasks += [Task(name, c, s, budget_for(name, epochs), headline=c.headline and s == first,
                           projections=projections, device=device)
                      for s in wanted if (name, c.name, s) not in done]
    return tasks


def runs_held(results: list[dict]) -> set[tuple[str, str, int]]:
    """The (dataset, cell, seed) of a folder's result rows: what ``--extend`` does not train again."""
    return {(r["dataset"], r["cell"], int(r["seed"])) for r in results}


def _one_at_a_time(fn):
    """``precompute`` holds a lock beside ``out`` for its whole run (``store.holding``): two at once on one --out had
    each replaced the other's grid, the later silently, and shared one journal (audit r60)."""

    @functools.wraps(fn)
    def held(out, *args, **kwargs):
        out = Path(out)

        def busy(pid: str) -> str:
            return f"{out}: another precompute (process {pid}) is writing it; wait for it to end or choose another " \
                   "--out"

        with contextlib.ExitStack() as stack:
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(holding(out.with_name(f".{out.name}.lock"), busy))
            except OSError as exc:  # a stack naming a path nobody typed, before (audit r59)
                why = "a file is in the way" if isinstance(exc, FileExistsError) else exc.strerror or exc
                raise ConfigError(f"{out} cannot be written ({why}); choose another --out") from exc
            except RunStoreError as exc:
                raise ConfigError(str(exc)) from None
            return fn(out, *args, **kwargs)

    return held


@_one_at_a_time
def precompute(out: str | Path, datasets: dict, seeds: Iterable[int] = DEFAULT_SEEDS, epochs: int | None = None,
               only: Iterable[str] | None = None, projections: tuple[str, ...] = PROJECTIONS,
               progress: bool = True, skipped: list[dict] | None = None, workers: int = 1,
               extend: bool = False, refresh_stale: bool = False, engine: str = "local", overwrite: bool = False,
               **engine_options) -> dict:
    """Run the grid on ``datasets`` (name -> Dataset) and write the folder ``out``; returns the manifest.

    ``out`` is replaced as a whole (a subset run with ``only`` gives a folder holding that subset), and
    only with ``overwrite`` when it holds runs already; a folder that is not a precomputed one is never
    overwritten, and none is written when every run failed. ``engine`` "local" trains ``workers`` runs
    at once, each in its own process with one torch thread; "ray" runs them as Ray tasks
    (``engine_options``: ``address``, ``cpus_per_task``, ``device``, ``max_retries``). ``extend`` keeps an
    existing folder's runs and trains only the (dataset, cell, seed) it lacks; it refuses a stale folder
    (mixing numbers of two codes), unless ``refresh_stale``, which also retrains every run of the cells
    whose probes moved. Finished runs are journalled as they arrive, so a failure loses none of them, and
    a task that keeps failing is listed in the manifest and REPORT.md (``failed``).
    """

    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {choices_text(ENGINES)}; got {engine!r}")
    if engine == "ray":
        require_ray()  # before anything is trained or probed: say what to install
    started = time.perf_counter()
    seeds, cells = [int(s) for s in seeds], grid_cells(only)
    if not seeds:
        raise ConfigError("give at least one seed")
    out = Path(out)
    check_replaceable(out, keep=extend or refresh_stale, overwrite=overwrite)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    for left in out.parent.glob(f"{out.name}.tmp-*"):  # a killed run's, whose process is gone (audit r59)
        pid = left.name.rsplit("-", 1)[-1]
        if left == tmp or (pid.isdigit() and not alive(int(pid))):
            shutil.rmtree(left, ignore_errors=True)
    tmp.mkdir(parents=True)  # a place it cannot write was refused by ``_one_at_a_time``, before the lock
    fingerprints = {name: ds.fingerprint() for name, ds in datasets.items()}
    try:  # a folder this command may not extend: refused before anything trains, nothing left beside it
        prev = (previous_folder(out, tmp, refresh_stale, progress, {(d, c.name) for d in datasets for c in cells})
                if extend or refresh_stale else None)
        check_extension(out, prev, fingerprints, epochs)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    done = runs_held(prev["results"]) if prev else set()
    tasks = plan(datasets, cells, seeds, epochs, projections, done, prev["redo"] if prev else None,
                 engine_options.get("device", "cpu"))
    expected = probe_section(cells, progress)
    journal = Journal(out)
    results, failed = _reuse(journal, tasks, fingerprints, expected["probes"])
    todo = [t for t in tasks if t.key not in results]
    if prev and not tasks:  # said: a refresh that found nothing stale printed the same summary as one that trained
        print(f"note: {out} holds every run asked for and none is stale: nothing to train (its runs and their probes "
              "are kept as they are)", file=sys.stderr)
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="run", dynamic_ncols=True,
               disable=not progress, file=sys.stderr)
    try:
        for task, res in _engine(engine, todo, datasets, workers, engine_options):
            bar.set_description(task.key)
            bar.update(1)
            try:
                if isinstance(res, BaseException):
                    raise res
                _accept(task, res, fingerprints, expected["probes"])
            except Exception as exc:  # noqa: BLE001  (recorded, reported; the other runs go on)
                failed.append({"task": task.key, "error": f"{type(exc).__name__}: {exc}"})
                print(f"error: {task.key} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            journal.save(res)
            results[task.key] = res
    except KeyboardInterrupt:  # the finished runs are journalled: say where, and how to go on
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)
        kept = len(results) - (len(tasks) - len(todo))  # finished by this attempt (the rest came from the journal)
        print(f"\n{out} is {'unchanged' if out.exists() else 'not written'}; " + (
            f"{len(results)} of {len(tasks)} run(s) finished ({kept} by this attempt) are kept in {journal.dir}, and "
            "the same command goes on from them." if results else "no run had finished, so nothing was kept."),
            file=sys.stderr)
        raise
    finally:
        bar.close()
    if failed and not results and not prev:
        shutil.rmtree(tmp, ignore_errors=True)
        journal.clear()
        raise PrecomputedError(f"every run failed ({len(failed)}; the first: {failed[0]['task']}: "
                               f"{failed[0]['error']}); {out} was left as it was")
    rows, runs = (list(prev["results"]), dict(prev["manifest"]["runs"])) if prev else ([], {})
    for res in results.values():
        _write_task_files(tmp, res)
        rows.append(res["row"])
        runs[res["key"]] = res["run"]
    for name, ds in datasets.items():
        if is_redistributable(name):
            write_json(tmp / "labels" / f"{dataset_folder(name)}.json", {
                "item_id": list(range(ds.n_items)), "title": ds.titles(), "category": ds.categories(),
                "popularity": ds.item_popularity().tolist()})
    write_results(tmp, rows)
    write_curves(tmp, rows)
    manifest = merge_manifest(prev["manifest"] if prev else None, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seeds": seeds, "only": [c.name for c in cells] if only is not None else None,
        "budgets": {name: dataclasses.asdict(budget_for(name, epochs)) for name in datasets},
        "epochs_override": epochs, "projections": list(projections),
        "datasets": {name: _dataset_entry(ds, fingerprints[name]) for name, ds in datasets.items()},
        "cells": {c.name: c.describe() for c in cells}, "runs": runs,
        "skipped": list(skipped or []) + (prev["manifest"].get("skipped", []) if prev else []), "failed": failed,
        "wall_time_s": time.perf_counter() - started, "machine": _machine(engine, workers, engine_options),
    })
    all_cells = {r["cell"] for r in rows}
    manifest.update(probe_section([c for c in GRID if c.name in all_cells], progress))
    if prev:  # an extension: what it did not retrain keeps the probe and date of the code that trained it
        manifest["probes"] = kept_probes(prev, manifest["probes"])
        now = manifest["created"]
        manifest["created"], manifest["extended"] = prev["manifest"].get("created", now), now
    (tmp / "REPORT.md").write_text(render_report(rows, manifest, read_alignment(tmp)))
    seal_manifest(tmp, manifest)
    _swap_in(tmp, out)
    journal.clear()
    return manifest


def write_curves(folder: Path, rows: list[dict]) -> None:
    """The learning-curve plots REPORT.md shows (replacing any older ones)."""
    shutil.rmtree(folder / "curves", ignore_errors=True)
    for rel, svg in curve_files(rows).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(svg)


def _engine(engine: str, tasks: list[Task], datasets: dict, workers: int, options: dict):
    if engine == "ray":
        return run_ray(tasks, datasets, **options)  # ray itself is imported there, only when used
    return run_local(tasks, datasets, workers=workers)


def _accept(task: Task, res: dict, fingerprints: dict, expected: dict) -> None:
    """Refuse a result computed on other data, or by code whose numerics probe differs from the driver's."""
    if res.get("fingerprint") != fingerprints[task.dataset]:
        raise TaskRefused(f"trained on data with fingerprint {res.get('fingerprint')}, not {task.dataset}'s "
                          f"{fingerprints[task.dataset]} (a worker modified or loaded other data)")
    moved = probes.differences(expected[task.cell.name], res["probe"])
    if moved:
        raise TaskRefused(f"the worker's code computes other numbers than the driver's ({moved[0]}): run the same "
                          "mambarec version everywhere")


KEYS_NAMED = 5  # runs a note names before "..."


def _reuse(journal: Journal, tasks: list[Task], fingerprints: dict, expected: dict) -> tuple[dict, list]:
    """Journalled results of earlier, interrupted runs of these tasks that are still today's: the same data, the
    same numerics and the same run (setup, seed, epoch cap and patience: a rerun with another --epochs had reused
    the old cap's runs beside the new cap's, audit r59). What is reused and what is trained again is said."""
    wanted = {t.key: t for t in tasks}
    kept, again = {}, []
    for key, res in journal.load().items():
        if key in wanted:
            try:
                _accept(wanted[key], res, fingerprints, expected)
            except TaskRefused:
                continue
            if not _same_run(res, wanted[key]):
                again.append(key)
                continue
            kept[key] = res
    if kept:
        print(f"note: {len(kept)} run(s) finished by an interrupted attempt are reused from {journal.dir}",
              file=sys.stderr)
    if again:
        print(f"note: {len(again)} run(s) of an interrupted attempt ran another setup or budget and are trained "
              f"again: {', '.join(sorted(again)[:KEYS_NAMED])}{' ...' if len(again) > KEYS_NAMED else ''}",
              file=sys.stderr)
    return kept, []


def _same_run(res: dict, task: Task) -> bool:
    """The journalled ``res`` trained ``task``'s run: its setup (``setup_key``), seed, epoch cap and patience."""
    try:
        stored = RunConfig.from_dict(res["run"])
    except (KeyError, TypeError, ValueError):
        return False
    run = task.run_config()
    return setup_key(stored) == setup_key(run) and all(
        getattr(stored.train, f) == getattr(run.train, f) for f in ("seed", *LENGTH_FIELDS))


def _write_task_files(folder: Path, res: dict) -> None:
    dataset, cell, seed = key_parts(res["key"])
    stem = f"{cell}_s{seed}"
    if res.get("alignment") is not None:
        write_json(folder / "alignment" / dataset_folder(dataset) / f"{stem}.json", res["alignment"])
    if res.get("checkpoint") is not None:
        path = folder / "checkpoints" / dataset_folder(dataset) / f"{stem}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(res["checkpoint"])


def _machine(engine: str, workers: int, options: dict) -> dict:
    import torch  # lazy: the driver reports the torch it ran with

    return {"cpu_count": os.cpu_count(), "engine": engine, "workers": workers,
            "torch_threads": 1 if workers > 1 or engine == "ray" else torch.get_num_threads(),
            "device": options.get("device", "cpu"), "platform": platform.platform(),
            **{k: options[k] for k in ("address", "cpus_per_task", "max_retries") if k in options},
            "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available()}


def graph_ks(runs) -> tuple[int, ...]:
    """Every k of the k-NN graphs the runs' models need (each model declares its own)."""
    from mambarec.model.zoo import model_class  # lazy: the model zoo imports torch

    return tuple(sorted({k for run in runs for k in model_class(run.model_name).graph_ks(run.model)}))


def probe_section(cells: list[Cell], progress: bool = False) -> dict:
    """The manifest's probes: today's probe of every cell, the tolerance and the probe's settings."""
    return {"probes": probes.cached_probes(probes.cells_to_runs(cells), progress),
            "probe_tolerance": dataclasses.asdict(probes.TOLERANCE),
            "probe_settings": {"train": dataclasses.asdict(probes.PROBE_TRAIN), "torch_threads": 1,
                               "dtype": probes.PROBE_DTYPE, "dataset": probes.probe_dataset().summary()}}


def _dataset_entry(ds, fingerprint: str) -> dict:
    """Fingerprint and counts only: nothing of the content."""
    return {"fingerprint": fingerprint, "n_users": ds.n_users, "n_items": ds.n_items,
            "n_train": len(ds.train), "n_valid": len(ds.valid), "n_test": len(ds.test),
            "visual_dim": int(ds.visual.shape[1]), "text_dim": int(ds.text.shape[1])}


def check_replaceable(out: str | Path, keep: bool = False, overwrite: bool = False) -> None:
    """Refuse, before any work, to write ``out`` over something that is not a precomputed folder, or over
    one holding runs unless they are kept (``keep``: an extension) or ``overwrite`` says to replace them; and to
    extend (``keep``) a folder that holds no grid."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").is_file())):
        raise PrecomputedError(f"{out} exists and is not a precomputed folder (no manifest.json); "
                               "choose another --out or remove it yourself")
    if (out / "manifest.json").is_file() and not (keep or overwrite):
        raise PrecomputedError(f"{out} already holds a precomputed grid; --extend adds runs to it, --overwrite "
                               "replaces it as a whole, or choose another --out")
    if keep and not (out / "manifest.json").is_file():  # a mistyped --out had started a whole grid (audit r75)
        raise PrecomputedError(f"{out} holds no precomputed grid to extend or refresh (no manifest.json); check "
                               "--out, or leave --extend and --refresh-stale out to train a new grid there")


def _swap_in(tmp: Path, out: Path) -> None:
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


__all__ = ["precompute", "check_replaceable", "plan", "runs_held", "probe_section", "graph_ks", "TaskRefused",
           "DEFAULT_DATASETS", "DEFAULT_SEEDS", "DEFAULT_WORKERS", "ENGINES"]
