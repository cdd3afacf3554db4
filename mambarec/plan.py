"""``precompute --plan``: the grid's arithmetic before anything runs (cells, seeds, measured seconds per
epoch, expected epochs, expected minutes), so a budget is checked before it is spent.

Seconds per epoch are measured here and now: a few training batches and one evaluation of each distinct
(dataset, cell) on one torch thread, as a grid worker trains. Expected epochs come from earlier runs of the
same (dataset, cell, schedule) in an existing precomputed folder when there are any, else from
``EXPECTED_EPOCHS`` (measured when the fast schedule was chosen, REPORT.md "Schedules").
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

from tqdm import tqdm

from mambarec.stats import summarize
from mambarec.tasks import Task

TIMED_BATCHES = 3
# epochs run (best epoch + patience + 1) when nothing on the dataset has run yet; measured on ml100k in this
# round's grid: `paper` 101-112 and `official` 63-70 under the fast schedule, `mgcn` 120 under the paper's; under
# large-batch, `paper` 183-195 in the schedule search (bench/schedule_search.py, docs/protocol.md section 8)
EXPECTED_EPOCHS = {"fast": 100, "paper": 140, "large-batch": 190}


@dataclass(frozen=True)
class Line:
    dataset: str
    cell: str
    schedule: str
    seeds: int
    s_per_epoch: float
    eval_s: float
    epochs: float
    source: str  # where the expected epochs came from

    @property
    def minutes(self) -> float:
        return self.seeds * self.epochs * (self.s_per_epoch + self.eval_s) / 60.0


def batch_seconds(polls: list[float]) -> float:
    """The median batch between the trainer's polls before each batch, the first (warm-up) batch left out: one
    batch slowed by something else on the machine (seen: 5x for `paper`) does not become the cell's speed."""
    steps = [b - a for a, b in zip(polls[1:-1], polls[2:], strict=True)]
    return statistics.median(steps) if steps else 0.0


def time_one(task: Task, dataset, batches: int = TIMED_BATCHES) -> tuple[float, float]:
    """(seconds per epoch, seconds per evaluation) of ``task``'s run, from ``batches`` timed batches."""
    import torch  # lazy: torch-backed timing

    from mambarec.train import Trainer  # lazy: torch-backed

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer.for_run(task.run_config(), dataset)
        polls: list[float] = []

        def should_stop() -> bool:
            polls.append(time.perf_counter())
            return len(polls) > batches + 1  # the first batch warms up; the next ones are timed

        if trainer.model.trainable:
            trainer.fit(should_stop=should_stop)
        batch_s = batch_seconds(polls)
        t0 = time.perf_counter()
        trainer.evaluate()
        eval_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    n_batches = math.ceil(len(dataset.train) / task.run_config().train.batch_size)
    return batch_s * n_batches if trainer.model.trainable else 0.0, eval_s


def expected_epochs(previous: list[dict], dataset: str, cell: str, schedule: str) -> tuple[float, str]:
    runs = [r["epochs_run"] for r in previous if r["dataset"] == dataset and r["cell"] == cell
            and r.get("schedule", "paper") == schedule and r.get("stopped_early")]
    if runs:
        return summarize(runs).mean, f"{len(runs)} earlier run(s)"
    similar = [r["epochs_run"] for r in previous if r["dataset"] == dataset and r.get("schedule", "paper") == schedule
               and r.get("stopped_early") and r.get("model_name") != "pop"]
    if similar:  # a cell not run yet: the other cells of its dataset and schedule
        return summarize(similar).mean, f"{len(similar)} run(s) of other cells"
    return float(EXPECTED_EPOCHS[schedule]), "default"


def make_plan(tasks: list[Task], datasets: dict, previous: list[dict] | None = None, progress: bool = True
              ) -> list[Line]:
    """One line per (dataset, cell): seeds to run, measured s/epoch and evaluation, expected epochs."""
    groups: dict[tuple[str, str], list[Task]] = {}
    for t in tasks:
        groups.setdefault((t.dataset, t.cell.name), []).append(t)
    lines = []
    for (dataset, cell), ts in tqdm(groups.items(), desc="timing", unit="cell", disable=not progress, leave=False):
        task = ts[0]
        schedule = task.run_config().train.schedule
        s_epoch, eval_s = time_one(task, datasets[dataset])
        trainable = task.cell.model_name != "pop"
        epochs, source = expected_epochs(previous or [], dataset, cell, schedule) if trainable else (0.0, "-")
        cap = task.run_config().train.epochs
        if epochs > cap:  # --epochs caps every run: none trains past it
            epochs, source = float(cap), f"the --epochs cap (expected {epochs:.0f}, {source})"
        lines.append(Line(dataset, cell, schedule, len(ts), s_epoch, eval_s, epochs if trainable else 1.0, source))
    return lines


def render_plan(lines: list[Line], workers: int) -> str:
    out = [f"{'dataset':<26} {'cell':<26} {'schedule':<11} {'seeds':>5} {'s/epoch':>8} {'eval s':>7} "
           f"{'epochs':>7} {'minutes':>8}  expected epochs from"]
    for ln in lines:
        out.append(f"{ln.dataset:<26} {ln.cell:<26} {ln.schedule:<11} {ln.seeds:>5} {ln.s_per_epoch:>8.2f} "
                   f"{ln.eval_s:>7.2f} {ln.epochs:>7.0f} {ln.minutes:>8.1f}  {ln.source}")
    total = sum(ln.minutes for ln in lines)
    runs = sum(ln.seeds for ln in lines)
    by_dataset: dict[str, float] = {}
    for ln in lines:
        by_dataset[ln.dataset] = by_dataset.get(ln.dataset, 0.0) + ln.minutes
    out.append("")
    out += [f"{name:<26} {minutes:>8.1f} min of one core" for name, minutes in by_dataset.items()]
    out.append(f"total: {runs} runs, {total:.0f} min of one core; with {workers} worker(s) at once about "
               f"{total / max(workers, 1):.0f} min of wall time (seconds per epoch measured now, one thread each)")
    return "\n".join(out)


__all__ = ["make_plan", "render_plan", "time_one", "batch_seconds", "EXPECTED_EPOCHS", "Line"]
