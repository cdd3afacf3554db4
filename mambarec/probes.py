"""Numerics probes: is ``precomputed/`` still what today's code computes? (docs/architecture.md section 4)

A probe trains one grid cell for two epochs, with evaluation, on one thread, in float64 and with a
fixed seed, on a tiny built-in dataset shaped so that every code path of the cell runs: a 2,048-d visual feature
gives a real DREAM map with C >= 2 at every reduction factor of the grid (r = 16: 2 x 8 x 8,
r = 1: 32 x 8 x 8); small batches give several optimizer steps per epoch; the learning-rate decay
period is one epoch, so the scheduler moves the rate between the two epochs; patience 0 puts
early stopping on the path after the second evaluation. A probe records the losses of every
epoch (each part), the valid and test metrics of every epoch, and a digest of the final
embeddings (in eval mode, so BatchNorm's running statistics count too).

``precompute`` stores each cell's probe in the manifest. The folder is current when every stored
probe reproduces within ``Tolerance``: a refactor that computes the same numbers keeps the grid
valid, a change of the mathematics makes the cells whose probes moved stale, by name. Probe
results are cached on disk by a hash of the package's source (a cache key only: staleness is
decided by the numbers).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mambarec.atomic import write_atomically
from mambarec.config import RunConfig, TrainConfig
from mambarec.data.dataset import Dataset
from mambarec.data.mmrec import SPLIT_LABELS, split_interactions
from mambarec.grid import DEFAULT_BUDGET

PROBE_DATASET = "probe"  # the name runs see; the data never leaves this module
PROBE_USERS, PROBE_ITEMS = 48, 72
PROBE_VISUAL_DIM, PROBE_TEXT_DIM = 2048, 96  # 2048 / 16 = 128 = 2 x 8 x 8: C >= 2 at every grid r
PROBE_FACTORS = 6
PROBE_PER_USER = (8, 15)  # interactions per user, uniform in [low, high)
PROBE_DATA_SEED = 20261130
PROBE_DTYPE = "float64"  # see Tolerance: float32 noise, amplified by training, would blur the verdict
PROBE_TRAIN = TrainConfig(epochs=2, batch_size=64, patience=0, lr_decay_epochs=1, seed=0, device="cpu",
                          eval_batch_users=32)  # 2 evaluation blocks, so the block loop runs too
SKIP_COLUMNS = ("epoch_s",)  # timings are not numerics
PACKAGE_ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Tolerance:
    """When a stored probe value and today's count as the same number.

    Probes train in float64 (``PROBE_DTYPE``). In float32, rounding noise of ~1e-7 is amplified by
    training: a 1e-7 relative perturbation of the initial weights moved the probes' InfoNCE loss
    (tau = 0.01) by up to 2e-3 and the MMD (a difference of kernel means, so cancellation) by 3e-4
    after two epochs, and the stored ml100k runs replayed on another CPU differed by up to 5e-3 in
    those two parts: no float32 tolerance could tell such noise from a small change of the
    mathematics. In float64 the same experiment with a 1e-15 perturbation moved every loss by at
    most 1.4e-13 and the embedding digest by at most 2.1e-11 (relative), and other instruction
    sets on one machine (``ATEN_CPU_CAPABILITY=default`` against AVX2) by at most 1.6e-12. Another
    machine moves them more: the probes stored on the grid's machine read on a 2-core AVX2-only EPYC
    (2026-12-02) differed by up to 9.0e-8 in the embedding digests and 1.2e-8 in one loss (the MMD,
    a cancelling difference), in 38 of 41 cells, metrics exactly equal. Two causes were found on a third
    machine, AVX2-only too: MKL's matrix products run per-CPU kernels (forcing its compatible path there,
    ``MKL_CBWR=COMPATIBLE``, moved the probes by up to 1.3e-8; LightGCN, which trains without one, not
    at all), and numpy's ``power`` runs SVML's pow on AVX-512 machines: LightGCN's 4.1e-8 drift is the
    size that a last bit moved at 10 of the probe graph's 120 degrees gives (4.9e-8). The graph builders
    now take d^-1/2 from sqrt and division (``graphs.inverse_sqrt``, the same bits on every CPU, and on
    that machine the same bits as before); MKL's kernels stay, so ``rel`` = 1e-6 leaves ten times
    the drift's room, while any change of the mathematics moves some value
    by far more (a 10% change of sigma moved loss/mmd by 9e-2, a 1% change by 6e-3, a 0.01% change
    some loss by 5e-4). ``abs`` only spares exact zeros. Metrics are step functions of the scores
    and agree exactly (``metric_abs`` absorbs float formatting only).
    """

    rel: float = 1e-6
    abs: float = 1e-12
    metric_abs: float = 1e-9

    def same(self, key: str, a: float, b: float) -> bool:
        if a is None or b is None:
            return a is b
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if key.startswith(("valid/", "test/")):
            return abs(a - b) <= self.metric_abs
        return abs(a - b) <= self.abs + self.rel * max(abs(a), abs(b))


TOLERANCE = Tolerance()


# ---- data ---------------------------------------------------------------------------------------
def probe_dataset():
    """The probes' tiny dataset: seeded, in memory, MMRec-split, with two modalities of one latent truth."""

    rng = np.random.default_rng(PROBE_DATA_SEED)
    items = rng.standard_normal((PROBE_ITEMS, PROBE_FACTORS))
    users = rng.standard_normal((PROBE_USERS, PROBE_FACTORS))
    logits = users @ items.T + rng.gumbel(size=(PROBE_USERS, PROBE_ITEMS))
    counts = rng.integers(*PROBE_PER_USER, size=PROBE_USERS)
    order = np.argsort(-logits, axis=1, kind="stable")
    pairs = np.concatenate([np.stack([np.full(c, u), order[u, :c]], 1) for u, c in enumerate(counts)])
    split = split_interactions(pairs.astype(np.int64), PROBE_DATA_SEED)
    inter = split[["userID", "itemID"]].to_numpy(np.int64)
    labels = split["x_label"].to_numpy()
    visual = np.maximum(items @ rng.standard_normal((PROBE_FACTORS, PROBE_VISUAL_DIM)), 0.0)
    visual += 0.1 * rng.random((PROBE_ITEMS, PROBE_VISUAL_DIM))
    text = np.tanh(items @ rng.standard_normal((PROBE_FACTORS, PROBE_TEXT_DIM))) + 0.5
    parts = {s: inter[labels == code] for s, code in SPLIT_LABELS.items()}
    return Dataset(name=PROBE_DATASET, n_users=PROBE_USERS, n_items=PROBE_ITEMS, train=parts["train"],
                   valid=parts["valid"], test=parts["test"], visual=visual.astype(np.float32),
                   text=text.astype(np.float32), source="mambarec.probes")


def probe_run(run: RunConfig) -> RunConfig:
    """``run``'s model on the probe's data and training settings (the cell's own switches kept)."""
    return dataclasses.replace(run, dataset=PROBE_DATASET, train=PROBE_TRAIN)


# ---- running ------------------------------------------------------------------------------------
def run_probe(run: RunConfig, dataset=None, graphs=None) -> dict:
    """Train ``probe_run(run)`` and return its numbers (JSON-ready)."""
    import torch  # lazy: torch

    from mambarec.train import Trainer  # lazy: torch-backed, kept off the light path

    dataset = dataset if dataset is not None else probe_dataset()
    trainer = Trainer.for_run(probe_run(run), dataset, graphs)
    result = trainer.fit()
    history = [{k: v for k, v in row.items() if k not in SKIP_COLUMNS} for row in result.history]
    model = trainer.model
    model.eval()
    with torch.no_grad():
        users, items = (e.detach().double() for e in model.embeddings())
        scores = users @ items.t()
    digest = {"user_rms": float(users.pow(2).mean().sqrt()), "item_rms": float(items.pow(2).mean().sqrt()),
              "score_mean": float(scores.mean()), "score_rms": float(scores.pow(2).mean().sqrt())}
    return {"history": history, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early, "n_params": result.n_params, "digest": digest}


def run_probes(runs: dict[str, RunConfig], progress: bool = False) -> dict[str, dict]:
    """Probe every named run on one thread (restored afterwards); the data and graphs are built once."""
    import torch  # lazy: torch

    from mambarec.model.zoo import graphs_for  # lazy: torch-backed, kept off the light path

    probe_dtype = getattr(torch, PROBE_DTYPE)

    dataset = probe_dataset()
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(probe_dtype)
    out = {}
    try:
        graphs = graphs_for(runs.values(), dataset, use_cache=False)
        names = list(runs)
        if progress:

            names = tqdm(names, desc="probes", unit="cell", leave=False)
        for name in names:
            out[name] = run_probe(runs[name], dataset, graphs)
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)
    return out


# ---- cache --------------------------------------------------------------------------------------
def source_key() -> str:
    """Hash of the package's source files and the numeric libraries' versions: the cache key of probe
    results (never the staleness rule: two sources that compute the same numbers share a verdict)."""
    import torch  # lazy: torch

    h = hashlib.sha256(f"torch {torch.__version__} numpy {np.__version__}".encode())
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        h.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:24]


def cache_path() -> Path:
    from mambarec.graphs import cache_dir  # lazy: torch-backed, kept off the light path

    return cache_dir() / "probes" / f"{source_key()}.json"


def cached_probes(runs: dict[str, RunConfig], progress: bool = False) -> dict[str, dict]:
    """``run_probes`` with results kept on disk per source version and run config."""
    path = cache_path()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    keys = {name: _run_key(run) for name, run in runs.items()}
    missing = {name: run for name, run in runs.items() if keys[name] not in cache}
    if missing:
        fresh = run_probes(missing, progress)
        cache.update({keys[name]: value for name, value in fresh.items()})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda tmp: tmp.write_text(json.dumps(cache)))
        except OSError:
            pass  # a read-only cache only costs a recomputation next time
    return {name: cache[keys[name]] for name in runs}


def _run_key(run: RunConfig) -> str:
    return hashlib.sha256(run.to_json().encode()).hexdigest()[:24]


# ---- comparing ----------------------------------------------------------------------------------
def flatten(probe: dict) -> dict[str, float]:
    """``{"epoch 1 loss/bpr": 0.69, ..., "digest/user_rms": ...}``: the numbers compared."""
    flat: dict[str, float] = {}
    for row in probe.get("history", []):
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                flat[f"epoch {row['epoch']} {key}"] = float(value)
    for key, value in probe.get("digest", {}).items():
        flat[f"digest/{key}"] = float(value)
    for key in ("best_epoch", "epochs_run", "n_params"):
        if key in probe:
            flat[key] = float(probe[key])
    return flat


def differences(stored: dict, now: dict, tol: Tolerance = TOLERANCE) -> list[str]:
    """What moved between two probes of one cell, one line each, the largest relative move first
    (empty: the same numbers)."""
    a, b = flatten(stored), flatten(now)
    out = [f"{k}: only in the stored probe" for k in sorted(set(a) - set(b))]
    out += [f"{k}: new in today's probe" for k in sorted(set(b) - set(a))]
    moved = []
    for key in sorted(set(a) & set(b)):
        if not tol.same(key.split(" ", 2)[-1], a[key], b[key]):
            rel = abs(a[key] - b[key]) / max(abs(a[key]), abs(b[key]), 1e-300)
            moved.append((rel, f"{key}: {a[key]:.8g} -> {b[key]:.8g} (relative {rel:.1e})"))
    return out + [line for _, line in sorted(moved, key=lambda m: -m[0])]


@dataclass(frozen=True)
class Staleness:
    """The outcome of checking a folder's probes against today's code."""

    checked: tuple[str, ...]  # cells whose stored probe was compared
    moved: dict  # cell -> list of differences (only cells that moved)
    unprobed: tuple[str, ...]  # cells without a stored probe (an older folder)
    redefined: dict = dataclasses.field(default_factory=dict)  # cell -> how today's grid defines its runs otherwise

    @property
    def current(self) -> bool:
        return not self.moved and not self.unprobed and not self.redefined

    @property
    def stale_cells(self) -> set[str]:
        return set(self.moved) | set(self.unprobed) | set(self.redefined)

    def message(self, limit: int = 3) -> str:
        if self.current:
            return f"current: all {len(self.checked)} probes reproduce"
        parts = []
        if self.moved:
            detail = "; ".join(f"{cell} ({lines[0]}{', ...' if len(lines) > 1 else ''})"
                               for cell, lines in list(self.moved.items())[:limit])
            more = f" and {len(self.moved) - limit} more" if len(self.moved) > limit else ""
            parts.append(f"the numerics of {len(self.moved)} cell(s) moved: {detail}{more}")
        if self.unprobed:
            parts.append(f"{len(self.unprobed)} cell(s) have no stored probe: {', '.join(self.unprobed)}")
        if self.redefined:
            detail = "; ".join(f"{cell} ({lines[0]}{', ...' if len(lines) > 1 else ''})"
                               for cell, lines in list(self.redefined.items())[:limit])
            more = f" and {len(self.redefined) - limit} more" if len(self.redefined) > limit else ""
            parts.append(f"today's grid defines the runs of {len(self.redefined)} cell(s) otherwise: {detail}{more}")
        return "; ".join(parts)


def check(stored: dict[str, dict], runs: dict[str, RunConfig], tol: Tolerance = TOLERANCE,
          progress: bool = False) -> Staleness:
    """Compare stored probes (cell -> probe) with today's probes of ``runs`` (cell -> RunConfig)."""
    have = {name: run for name, run in runs.items() if name in stored}
    now = cached_probes(have, progress) if have else {}
    moved = {}
    for name in have:
        diff = differences(stored[name], now[name], tol)
        if diff:
            moved[name] = diff
    return Staleness(tuple(have), moved, tuple(n for n in runs if n not in stored))


def cells_to_runs(cells: Iterable) -> dict[str, RunConfig]:
    """Grid cells as the runs their probes train (the probe's data and training settings)."""

    return {c.name: probe_run(c.run_config(PROBE_DATASET, PROBE_TRAIN.seed, DEFAULT_BUDGET)) for c in cells}


__all__ = ["Tolerance", "TOLERANCE", "probe_dataset", "probe_run", "run_probe", "run_probes", "cached_probes",
           "differences", "check", "Staleness", "cells_to_runs", "flatten"]
