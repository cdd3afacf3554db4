"""One task of the grid, (dataset, cell, seed), and what a worker does with it (docs/architecture.md section 4).

A worker may be a local process or a remote Ray worker running other code, so a task's result is
plain data (JSON-ready values and checkpoint bytes) that the driver writes into ``precomputed/``,
and it carries the numerics probe of its cell as the worker's code computes it: the driver refuses
results whose probe differs from its own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mambarec import groundtruth, probes
from mambarec.artifacts import METRIC_COLUMNS, key_parts, ships_checkpoints
from mambarec.config import RunConfig
from mambarec.grid import Budget, Cell
from mambarec.store import metrics_payload

COORD_DECIMALS = 4
PROJECTIONS = ("pca", "umap")


@dataclass(frozen=True)
class Task:
    """Train ``cell`` with ``seed`` on the dataset called ``dataset`` under ``budget``."""

    dataset: str
    cell: Cell
    seed: int
    budget: Budget
    headline: bool = False  # alignment maps (and, on redistributable data, the checkpoint)
    projections: tuple[str, ...] = PROJECTIONS
    device: str = "cpu"

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.cell.name}/s{self.seed}"

    @property
    def stem(self) -> str:
        return f"{self.cell.name}_s{self.seed}"

    def run_config(self) -> RunConfig:
        run = self.cell.run_config(self.dataset, self.seed, self.budget)
        return dataclasses.replace(run, train=dataclasses.replace(run.train, device=self.device))


def alignment_snapshot(model, sigma: float, seed: int, projections: tuple[str, ...] = PROJECTIONS) -> dict:
    """Alignment metrics and joint 2-D maps of the model's "modal" stage."""
    # lazy: torch-backed, kept off the light path
    from mambarec.analysis import alignment_metrics, modality_embeddings, project_joint

    emb = modality_embeddings(model, "modal")
    snap: dict[str, Any] = {"metrics": alignment_metrics(emb["visual"], emb["text"], sigma)}
    for method in projections:
        v, t = project_joint(emb["visual"], emb["text"], method=method, seed=seed)
        snap[method] = {"visual": np.round(v, COORD_DECIMALS).tolist(), "text": np.round(t, COORD_DECIMALS).tolist()}
    return snap


def result_row(task: Task, run: RunConfig, result, wall_s: float) -> dict:
    """The results.csv / results.json row of a finished task."""
    row = {"dataset": task.dataset, "cell": task.cell.name, "model_name": run.model_name, "variant": run.variant or "",
           "schedule": run.train.schedule, "group": task.cell.group, "seed": task.seed}
    split_metrics = {"test": result.test, "valid": result.valid}
    row.update({c: split_metrics[c.split("/", 1)[0]].get(c.split("/", 1)[1]) for c in METRIC_COLUMNS})
    row.update(n_params=result.n_params, s_per_epoch=result.s_per_epoch, best_epoch=result.best_epoch,
               epochs_run=result.epochs_run, stopped_early=result.stopped_early, wall_s=wall_s)
    row["all_metrics"] = {**{f"test/{k}": v for k, v in result.test.items()},
                          **{f"valid/{k}": v for k, v in result.valid.items()}}
    return row


def execute(task: Task, dataset, graphs=None, on_event: Callable | None = None) -> dict:
    """Train ``task`` on ``dataset`` and return its result as data.

    Keys: ``key``, ``row`` (with ``history``), ``run`` (the exact config), ``fingerprint`` (of the data
    trained on), ``alignment`` (headline cells: before/after snapshots, else None), ``checkpoint``
    (headline cells on redistributable data: the checkpoint file's bytes, else None) and ``probe``
    (this cell's numerics probe as this worker's code computes it).
    """
    from mambarec.checkpoint import checkpoint_bytes  # lazy: torch-backed, kept off the light path
    from mambarec.train import Trainer  # lazy: torch-backed, kept off the light path

    run = task.run_config()
    t0 = time.perf_counter()
    trainer = Trainer.for_run(run, dataset, graphs)
    sigma = getattr(run.model, "sigma", 1.0)  # the MMD's bandwidth; models without MMD: the paper's default
    before = alignment_snapshot(trainer.model, sigma, task.seed, task.projections) if task.headline else None
    truth_before = ground_truth(trainer.model, dataset, trained=False)
    result = trainer.fit(on_event=on_event)
    row = {**result_row(task, run, result, time.perf_counter() - t0), "history": result.history}
    truth_after = ground_truth(trainer.model, dataset, trained=True)
    if truth_after:
        row["ground_truth"] = {**truth_after, **{f"{k}_before": v for k, v in truth_before.items()
                                                  if k.startswith("factor_r2")}}
    out = {"key": task.key, "run": run.to_dict(), "fingerprint": dataset.fingerprint(), "row": row,
           "alignment": None, "checkpoint": None}
    if task.headline:
        after = alignment_snapshot(trainer.model, sigma, task.seed, task.projections)
        out["alignment"] = {"dataset": task.dataset, "cell": task.cell.name, "seed": task.seed, "stage": "modal",
                            "item_id": list(range(dataset.n_items)), "before": before, "after": after}
        if ships_checkpoints(task.dataset):
            metrics = {k: v for k, v in metrics_payload(result, run, dataset).items() if k != "history"}
            out["checkpoint"] = checkpoint_bytes(run, trainer.model.state_dict(), metrics, task.dataset,
                                                 dataset.fingerprint())
    out["probe"] = probes.cached_probes(probes.cells_to_runs([task.cell]))[task.cell.name]
    return out


def ground_truth(model, dataset, trained: bool) -> dict:
    """For generated worlds (``dataset.extras`` holds the truth): how well each modality's learned features
    recover the true item factors (5-fold cross-validated ridge R2, ``groundtruth.factor_recovery_r2``), and,
    once trained, test Recall/NDCG on cold against warm items (``groundtruth.cold_warm_metrics``).
    Empty for data without ground truth."""
    from mambarec.analysis import modality_embeddings  # lazy: torch-backed

    extras = getattr(dataset, "extras", {}) or {}
    if "item_factors" not in extras:
        return {}
    out: dict[str, Any] = {}
    if hasattr(model, "encoders"):  # models with modal encoders: MambaRec, MGCN
        emb = modality_embeddings(model, "modal")
        for m in ("visual", "text"):
            out[f"factor_r2_{m}"] = groundtruth.factor_recovery_r2(emb[m], extras["item_factors"],
                                                                   in_sample=False).cv_r2
    cold = groundtruth.world_cold_items(dataset)
    if trained and cold is not None:
        from mambarec.recommend import item_scores  # lazy: torch-backed

        scores = item_scores(model, range(dataset.n_users))
        groups = groundtruth.cold_warm_metrics(scores, dataset, "test", cold=cold)
        out["groups"] = {name: {"users": g.users, "heldout": g.heldout, **g.metrics} for name, g in groups.items()}
    return out


__all__ = ["Task", "execute", "ground_truth", "key_parts", "alignment_snapshot", "result_row", "PROJECTIONS"]
