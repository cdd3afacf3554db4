"""How long a run will take, before it starts: time two training batches and one evaluation.

Uses only ``mambarec`` APIs: a ``Trainer`` is built for the run, ``fit`` is cancelled through its
``should_stop`` hook after two batches (the second one, warm, is the one timed) and ``evaluate``
is timed once. Epoch time = batches per epoch x batch time; total = build + epochs x (epoch +
evaluation). Early stopping can only make the real run shorter. Measurements run in one
background thread and are cached per setup (the seed and the epoch count do not change the cost).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from mambarec.config import RunConfig

MINUTES_WARNING_S = 60.0  # runs longer than this get a warning before they start
TIMED_BATCHES = 2

_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="estimate")
_LOCK = threading.Lock()
_FUTURES: dict[tuple, Future] = {}


@dataclass(frozen=True)
class EpochCost:
    build_s: float  # building the trainer (graphs, model)
    batch_s: float  # one training batch
    n_batches: int  # batches per epoch
    eval_s: float  # one evaluation on valid + test

    @property
    def epoch_s(self) -> float:
        return self.batch_s * self.n_batches

    def total_s(self, epochs: int, eval_every: int = 1, trainable: bool = True) -> float:
        if not trainable:
            return self.build_s + self.eval_s
        n_evals = epochs // eval_every + (1 if epochs % eval_every else 0)
        return self.build_s + epochs * self.epoch_s + n_evals * self.eval_s


def cost_key(run: RunConfig) -> tuple:
    """What the per-epoch cost depends on: not the seed, not the number of epochs."""
    return (run.dataset, run.model_name, run.model, run.train.batch_size, run.train.eval_batch_users,
            run.train.device)


def measure(run: RunConfig, dataset) -> EpochCost:
    """Build the run's trainer, time two batches and one evaluation (a few seconds on small data)."""
    from mambarec.train import Trainer

    run = dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=1))
    n_batches = max(1, math.ceil(len(dataset.train) / run.train.batch_size))
    t0 = time.perf_counter()
    trainer = Trainer.for_run(run, dataset)
    build_s = time.perf_counter() - t0
    polls: list[float] = []

    def should_stop() -> bool:  # polled before each batch
        polls.append(time.perf_counter())
        return len(polls) > TIMED_BATCHES

    t1 = time.perf_counter()
    trainer.fit(should_stop=should_stop)
    fit_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    trainer.evaluate()
    eval_s = time.perf_counter() - t2
    if len(polls) > TIMED_BATCHES:
        batch_s = polls[TIMED_BATCHES] - polls[TIMED_BATCHES - 1]
    elif polls:  # the epoch had fewer batches than we wanted to time; fit also evaluated once
        batch_s = max(fit_s - eval_s, 0.0) / len(polls)
    else:  # nothing to train (popularity)
        batch_s = 0.0
    return EpochCost(build_s=build_s, batch_s=batch_s, n_batches=n_batches, eval_s=eval_s)


def request(run: RunConfig, dataset) -> EpochCost | Exception | None:
    """The cost of ``run`` if measured, the error if measuring failed, else None (measuring now)."""
    from app.jobs import use_torch_threads

    use_torch_threads()  # time the run under the thread count it will train with
    key = cost_key(run)
    with _LOCK:
        future = _FUTURES.get(key)
        if future is None:
            future = _FUTURES[key] = _EXECUTOR.submit(measure, run, dataset)
    if not future.done():
        return None
    exc = future.exception()
    return exc if exc is not None else future.result()


def cancel_pending(keep: RunConfig | None = None) -> None:
    """Drop queued measurements other than ``keep``'s (the user moved on to another setup)."""
    keep_key = cost_key(keep) if keep is not None else None
    with _LOCK:
        for key in [k for k, f in _FUTURES.items() if k != keep_key and not f.running() and not f.done()]:
            if _FUTURES[key].cancel():
                del _FUTURES[key]


def from_history(s_per_epoch: list[float], epochs: int) -> float | None:
    """Training time of ``epochs`` from earlier runs of the same setup (their median epoch time)."""
    values = sorted(v for v in s_per_epoch if v and v > 0)
    if not values:
        return None
    return values[len(values) // 2] * epochs


def describe(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
