"""How long a run will take, measured on demand: time a few training batches and one evaluation.

Nothing is measured until someone asks (a timing costs CPU: up to a minute at d = 4096). Uses only
``mambarec`` APIs: a throwaway ``Trainer`` is built for the run, ``fit`` is cancelled through its
``should_stop`` hook after the batches it needs (the first one, cold, is not timed per epoch: a run pays
what it costs beyond a warm one once, ``once_s``, some 25 s of compiling with ``compile = dream``), and
``evaluate`` is timed once (after the run's own evaluations, so warm); no run is saved. Epoch time = the
epoch's set-up + batches per epoch x mean batch time,
which is what a run reports as s/epoch (``bench/live_refresh.py`` checks the two agree). Measurements
run one at a time in a worker process (``app.jobs.CONTEXT``: like a run, so the server's pages cannot
slow it and it cannot slow them through Python's interpreter lock, and it times the thread count a run
trains with) and are cached per setup (the seed and the stopping rule do not change the cost); the page
polls, so the form never waits for them.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from app import jobs
from mambarec import lifeline
from mambarec.config import RunConfig

MINUTES_WARNING_S = 60.0  # runs longer than this get a warning before they start
BUDGET_S = 4.0  # time whole epochs when this many seconds hold WHOLE_EPOCHS of them
WHOLE_EPOCHS = 3  # epochs timed whole at least (after the first, which is cold)
# ... and at most, while their seconds fit in BUDGET_S. Their median is the epoch: a fresh worker's next epochs, or a
# page redrawn on the same cores while they ran, made three epochs of 0.15 s read 0.45 s (synthetic, a lecturer's
# rehearsal in Chromium; 0.23 s in a fresh worker alone, 0.14 s once warm), where a run of 183 epochs averages it away.
MAX_WHOLE_EPOCHS = 12
MIN_TIMED = 2  # batches timed before deciding

_LOCK = threading.Lock()
_FUTURES: dict[tuple, Future] = {}
_POOL: list[ProcessPoolExecutor] = []  # one worker process, started on the first request


@dataclass(frozen=True)
class EpochCost:
    build_s: float  # building the trainer (graphs, model)
    batch_s: float  # one training batch (mean of the timed ones)
    n_batches: int  # batches per epoch
    eval_s: float  # one evaluation on valid + test
    setup_s: float = 0.0  # per-epoch work before the first batch (the epoch hook, the shuffle)
    timed: int = 0  # batches timed
    epochs_timed: int = 0  # whole epochs timed (then batch_s is their mean / n_batches)
    once_s: float = 0.0  # what the cold first epoch (or batch) took beyond a warm one

    @property
    def epoch_s(self) -> float:
        return self.setup_s + self.batch_s * self.n_batches

    @property
    def start_s(self) -> float:
        """What a run pays once: building its trainer and its cold first steps."""
        return self.build_s + self.once_s

    def total_s(self, epochs: int, eval_every: int = 1, trainable: bool = True) -> float:
        if not trainable:
            return self.start_s + self.eval_s
        n_evals = epochs // eval_every + (1 if epochs % eval_every else 0)
        return self.start_s + epochs * self.epoch_s + n_evals * self.eval_s


def cost_key(run: RunConfig) -> tuple:
    """What the per-epoch cost depends on: not the seed, not the number of epochs or the patience."""
    return (run.dataset, run.model_name, run.model, run.train.batch_size, run.train.eval_batch_users,
            run.train.device, run.train.compile)


def measure(run: RunConfig, dataset) -> EpochCost:
    """Build the run's trainer and time it: whole epochs when they are short, else a few batches.

    A run reports the mean of its epochs' training times (the epoch hook, the shuffle and the batches;
    not the evaluation). When the first epoch's batches project a short epoch, the epochs after the first
    are timed whole, exactly that quantity (3 to 12 of them, as many as BUDGET_S holds; their median);
    otherwise batches 2 .. k of the first epoch (the first is cold) give the batch time and the epoch is its
    set-up plus batches per epoch x batch time.
    """
    from app.worker import use_threads  # lazy: imports torch (this runs in the estimate's worker process)
    from mambarec.train import Trainer  # lazy: imports torch

    use_threads()  # time the run under the thread count it will train with
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, epochs=MAX_WHOLE_EPOCHS + 1,
                                                             patience=MAX_WHOLE_EPOCHS + 1))
    n_batches = max(1, math.ceil(len(dataset.train) / run.train.batch_size))
    t0 = time.perf_counter()
    trainer = Trainer.for_run(run, dataset)
    build_s = time.perf_counter() - t0
    # polls[0]: before the first epoch's hook; polls[i], i >= 1: before batch i of the first epoch
    polls: list[float] = []
    epochs: list[float] = []  # each finished epoch's training seconds (EpochEvent.epoch_s)

    def should_stop() -> bool:
        polls.append(time.perf_counter())
        if not epochs:  # the first epoch: is an epoch short enough to time whole ones?
            timed = len(polls) - 3
            if n_batches > 2 and timed >= MIN_TIMED:
                return (polls[-1] - polls[2]) / timed * n_batches * WHOLE_EPOCHS > BUDGET_S
            return False
        return len(epochs) > MAX_WHOLE_EPOCHS or (len(epochs) > WHOLE_EPOCHS and sum(epochs[1:]) > BUDGET_S)

    trainer.fit(on_event=lambda e: epochs.append(e.epoch_s), should_stop=should_stop)
    t2 = time.perf_counter()
    trainer.evaluate()
    eval_s = time.perf_counter() - t2
    if not trainer.model.trainable:
        return EpochCost(build_s=build_s, batch_s=0.0, n_batches=n_batches, eval_s=eval_s)
    if len(epochs) >= 2:  # whole epochs after the first: their median, which a slow one or two do not move
        whole = epochs[1:]
        typical = statistics.median(whole)
        return EpochCost(build_s=build_s, batch_s=typical / n_batches, n_batches=n_batches, eval_s=eval_s,
                         timed=len(whole) * n_batches, epochs_timed=len(whole),
                         once_s=max(0.0, epochs[0] - typical))
    first = polls[: n_batches + 1]
    setup_s = first[1] - first[0] if len(first) > 1 else 0.0
    intervals = [b - a for a, b in zip(first[2:-1], first[3:], strict=True)]
    if not intervals:  # one or two batches and a long epoch: the first epoch, less nothing we can split
        return EpochCost(build_s=build_s, batch_s=epochs[0] / n_batches if epochs else 0.0, n_batches=n_batches,
                         eval_s=eval_s, timed=n_batches, epochs_timed=1 if epochs else 0)
    batch_s = sum(intervals) / len(intervals)
    return EpochCost(build_s=build_s, batch_s=batch_s, n_batches=n_batches, eval_s=eval_s, setup_s=setup_s,
                     timed=len(intervals), once_s=max(0.0, first[2] - first[1] - batch_s))


def lookup(run: RunConfig) -> EpochCost | Exception | None:
    """The cost of ``run`` if it was measured, the error if measuring failed, else None."""
    with _LOCK:
        future = _FUTURES.get(cost_key(run))
    if future is None or not future.done() or future.cancelled():
        return None
    exc = future.exception()
    return exc if exc is not None else future.result()


def pending(run: RunConfig) -> bool:
    """True while ``run``'s measurement is queued or running."""
    with _LOCK:
        future = _FUTURES.get(cost_key(run))
    return future is not None and not future.done()


def submit(run: RunConfig, dataset) -> None:
    """Measure ``run`` in the background (once per setup; a failed measurement can be asked again)."""
    key = cost_key(run)
    with _LOCK:
        future = _FUTURES.get(key)
        if future is not None and not (future.done() and future.exception() is not None):
            return
        if future is not None and isinstance(future.exception(), BrokenProcessPool):
            _POOL.clear()  # its process died (out of memory): the next one gets a fresh one
        for _ in range(2):
            if not _POOL:
                _POOL.append(lifeline.watched_pool(1, jobs.context()))
            try:
                jobs.guard_main()
                _FUTURES[key] = _POOL[0].submit(measure, run, dataset)
                return
            except BrokenProcessPool:
                _POOL.clear()


def forget(run: RunConfig) -> None:
    """Drop ``run``'s measurement, so the next request measures it anew (benchmarks)."""
    with _LOCK:
        future = _FUTURES.get(cost_key(run))
        if future is not None and future.done():
            del _FUTURES[cost_key(run)]


def describe(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
