"""Background training: one thread and one ``Trainer`` per run, in a process-wide registry.

Each run owns its generators (``mambarec.train``), so two browser tabs training at once stay
deterministic. A job is keyed by its run id; Stop sets its ``threading.Event``, which the trainer
polls between batches and answers by keeping the best state so far. Finished or stopped runs are
saved with ``mambarec.store.save_run`` into ``runs_dir()``; an error is kept on the job (message
and traceback) and printed to the server log, never lost.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from mambarec.config import RunConfig

ACTIVE = ("queued", "building", "running", "saving")
MAX_PARALLEL = max(1, min(2, os.cpu_count() or 1))  # more threads than cores only slows every run
THREADS_ENV = "MAMBAREC_TORCH_THREADS"
# torch's intra-op threads per run. One: runs (and other tabs' runs) train side by side, and a busy
# machine does not make spinning OpenMP threads fight (2 threads on 2 loaded cores measured 10-20x slower).
DEFAULT_TORCH_THREADS = 1

_LOCK = threading.Lock()
_SLOTS = threading.BoundedSemaphore(MAX_PARALLEL)
_JOBS: dict[str, Job] = {}


@dataclass
class Job:
    id: str
    run: RunConfig
    folder: Path
    group: str | None = None  # jobs started together ("repeat with 3 seeds") share a group
    status: str = "queued"  # queued | building | running | saving | done | stopped | cancelled | failed
    events: list[dict] = field(default_factory=list)  # one row per evaluated epoch
    n_params: int | None = None
    result: object | None = None  # mambarec.train.TrainResult
    error: str | None = None
    traceback: str | None = None
    saved: bool = False
    created: float = field(default_factory=time.time)
    finished: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def epochs(self) -> int:
        return self.run.train.epochs

    @property
    def last_epoch(self) -> int:
        return self.events[-1]["epoch"] if self.events else 0

    @property
    def s_per_epoch(self) -> float | None:
        if self.result is not None:
            return self.result.s_per_epoch
        times = [e["epoch_s"] for e in self.events if e["epoch_s"] > 0]
        return sum(times) / len(times) if times else None

    def on_event(self, event) -> None:
        self.events.append({
            "epoch": event.epoch, "elapsed_s": event.elapsed_s, "epoch_s": event.epoch_s, "lr": event.lr,
            **{f"loss/{k}": v for k, v in event.losses.items()},
            "valid/Recall@20": event.valid.get("Recall@20"), "best_epoch": event.best_epoch,
        })


def use_torch_threads() -> None:
    """Set torch's intra-op thread count for this process (``$MAMBAREC_TORCH_THREADS``, default 1)."""
    import torch

    n = int(os.environ.get(THREADS_ENV, DEFAULT_TORCH_THREADS))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _unique_id(run: RunConfig, root: Path) -> str:
    from mambarec.store import new_run_id

    base = new_run_id(run)
    rid, n = base, 1
    while rid in _JOBS or (root / rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def start(run: RunConfig, dataset, root: Path | None = None, group: str | None = None) -> Job:
    """Train ``run`` on ``dataset`` in a new thread; returns its job at once."""
    from mambarec.store import runs_dir

    root = Path(root) if root is not None else runs_dir()
    use_torch_threads()
    with _LOCK:
        rid = _unique_id(run, root)
        job = Job(id=rid, run=run, folder=root / rid, group=group)
        _JOBS[rid] = job
    job.thread = threading.Thread(target=_work, args=(job, dataset), name=f"train-{rid}", daemon=True)
    job.thread.start()
    return job


def start_seeds(run: RunConfig, dataset, seeds: list[int], root: Path | None = None) -> list[Job]:
    """The same setup once per seed (mean and std over seeds on the Compare page)."""
    group = f"seeds-{time.strftime('%H%M%S')}-{id(run)}"
    return [start(dataclasses.replace(run, train=dataclasses.replace(run.train, seed=s)), dataset, root, group)
            for s in seeds]


def _work(job: Job, dataset) -> None:
    trainer = None
    try:
        with _SLOTS:
            if job.stop_event.is_set():
                job.status = "cancelled"
                return
            from mambarec.store import save_run
            from mambarec.train import Trainer

            job.status = "building"
            trainer = Trainer.for_run(job.run, dataset)
            job.n_params = trainer.model.n_parameters()
            job.status = "running"
            result = trainer.fit(on_event=job.on_event, should_stop=job.stop_event.is_set)
            job.result = result
            if not result.history:  # stopped before the first epoch ended: nothing to keep
                job.status = "cancelled"
                return
            job.status = "saving"
            save_run(job.folder, trainer, result)
            job.saved = True
            job.status = "stopped" if result.cancelled else "done"
    except BaseException as exc:  # noqa: BLE001  (a thread's error must reach the page)
        job.error = f"{type(exc).__name__}: {exc}"
        job.traceback = traceback.format_exc()
        job.status = "failed"
        print(f"[mambarec app] run {job.id} failed:\n{job.traceback}", file=sys.stderr, flush=True)
    finally:
        job.finished = time.time()


def stop(job_id: str) -> None:
    job = _JOBS.get(job_id)
    if job is not None:
        job.stop_event.set()


def get(job_id: str) -> Job | None:
    return _JOBS.get(job_id)


def all_jobs() -> list[Job]:
    with _LOCK:
        return sorted(_JOBS.values(), key=lambda j: j.created, reverse=True)


def wait(job_id: str, timeout: float | None = None) -> Job:
    """Block until the job's thread ends (tests and scripts; the app polls instead)."""
    job = _JOBS[job_id]
    if job.thread is not None:
        job.thread.join(timeout)
    return job


def forget(job_id: str) -> None:
    """Drop a finished job from the registry (its saved run stays on disk)."""
    with _LOCK:
        job = _JOBS.get(job_id)
        if job is not None and not job.active:
            del _JOBS[job_id]
