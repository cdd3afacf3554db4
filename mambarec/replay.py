"""Probes for a precomputed folder written before probes existed, and re-rendering a folder's report
(docs/architecture.md section 4).

``adopt_probes`` gives such a folder today's probes without retraining it, but only after
``replay_first_epochs`` has shown that today's code reproduces its stored runs; ``rerender`` rewrites
REPORT.md from the stored rows with today's report code.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from mambarec import probes
from mambarec.artifacts import FORMAT_VERSION, PrecomputedError, load_precomputed, seal_manifest, write_results
from mambarec.config import RunConfig
from mambarec.engines import DEFAULT_WORKERS
from mambarec.grid import GRID
from mambarec.lifeline import watched_pool
from mambarec.precompute import probe_section  # lazy: the runner imports torch-backed modules
from mambarec.report import render_report

# Replaying stored float32 runs on another machine: the relative difference a loss part may show and still
# count as float noise. Sharp or cancelling parts amplify noise: a 1e-7 perturbation of the initial weights
# moves InfoNCE at tau = 0.01 by up to 2e-3 and the MMD (a difference of kernel means) by 3e-4 after two
# epochs; the other parts stay below 1e-4 (docs/architecture.md section 4).
REPLAY_REL = {"loss/cl": 1e-2, "loss/mmd": 1e-2}
REPLAY_DEFAULT_REL = 1e-4

_DATASETS: dict = {}  # per replay worker process


def replay_first_epochs(folder: str | Path, datasets: dict, epochs: int = 2, workers: int = DEFAULT_WORKERS,
                        progress: bool = True) -> list[dict]:
    """Retrain the first seed of every stored cell for ``epochs`` epochs on its real data (one thread per
    run, as ``precompute`` trains) and compare with the stored history of those epochs.

    Returns one entry per run: ``key``, ``losses_moved`` (losses and learning rates beyond float32 noise,
    ``REPLAY_REL``), ``max_loss_rel`` and ``metric_swaps`` (metrics that moved: rank swaps of nearly tied
    items, which another CPU's kernels can cause).
    """

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
    from mambarec.train import Trainer  # lazy: torch

    dataset = _DATASETS[key.rsplit("/", 2)[0]]
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
    """Rewrite REPORT.md, the curves and results.json/csv from the stored rows with today's report and format
    code (no run is retrained; results.json gets today's ``compact_history``), and reseal."""
    folder = Path(folder)
    pre = load_precomputed(folder)
    manifest = manifest if manifest is not None else pre["manifest"]
    from mambarec.precompute import write_curves  # lazy: the runner imports torch-backed modules

    write_curves(folder, pre["results"])
    write_results(folder, pre["results"])
    (folder / "REPORT.md").write_text(render_report(pre["results"], manifest, pre["alignment"]))
    return seal_manifest(folder, manifest)


def _map_in_workers(fn: Callable, jobs: list[tuple], datasets: dict, workers: int):
    """Yield ``fn(*job)`` for every job, in order, inline or in ``workers`` one-thread processes."""
    if workers <= 1:
        _DATASETS.update(datasets)
        for job in jobs:
            yield fn(*job)
        return
    ctx = multiprocessing.get_context("spawn")
    with watched_pool(workers, ctx, _init, (datasets,)) as pool:  # workers end with the driver
        futures = [pool.submit(fn, *job) for job in jobs]
        for fut in futures:
            yield fut.result()


def _init(datasets: dict) -> None:
    import torch  # lazy: only replay workers train

    torch.set_num_threads(1)
    _DATASETS.update(datasets)


__all__ = ["replay_first_epochs", "adopt_probes", "rerender", "REPLAY_REL"]
