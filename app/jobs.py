"""Background training: one server-wide queue, at most ``max_parallel()`` runs at once, one process each.

Every browser session of the server shares this queue (a classroom of students is one queue): a job
waits in first-come order for a free slot and everyone sees its place. A job records the session that
started it (``owner``); any session may stop it. A run trains in its own process (``app.worker``,
forked from a server process that has torch loaded), so drawing pages for other sessions cannot slow
it through Python's interpreter lock; a thread here reads its messages into the ``Job``. Each run owns
its generators (``mambarec.train``), so runs side by side stay deterministic. Stop sets the job's
event, which the trainer polls between batches and answers by keeping the best state so far; a queued
job that is stopped never starts. The worker saves finished or stopped runs with
``mambarec.store.save_run`` into ``runs_dir()``; an error is kept on the job (message and traceback)
and printed to the server log.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from mambarec.catalog import live_writers
from mambarec.config import RunConfig
from mambarec.progress import adopt_progress
from mambarec.store import new_run_id, runs_dir

ACTIVE = ("queued", "building", "running", "saving")
PARALLEL_ENV = "MAMBAREC_MAX_PARALLEL"  # runs training at once, server-wide
ENV_PASSED = ("MAMBAREC_DATA", "MAMBAREC_CACHE", "MAMBAREC_RUNS", "MAMBAREC_TORCH_THREADS",  # to each worker
              "MAMBAREC_SAVE_EVERY")
# forkserver: workers fork from a clean process that imported torch once (fast start, no server threads copied)
CONTEXT = multiprocessing.get_context("forkserver")
_PRELOADED = False  # context() told the forkserver its preload
_LOCK = threading.RLock()
_JOBS: dict[str, Job] = {}
_QUEUE: list[str] = []  # ids of queued jobs, first come first served
_RUNNING: set[str] = set()
OTHERS_POLL_S = 5.0  # while runs of other processes hold the slots, how often the queue looks again
_RETRY: threading.Timer | None = None
QUEUE_REFRESH_S = 10.0  # the server's queue as every session shows it: 30 students must not load the server
_PRESTARTED = False  # prestart() ran in this process


def context():
    """``CONTEXT``, its forkserver told to preload the worker module: set on first use, not when this module is
    imported (an import that changed the process's forkserver for every importer, tests included: audit r57)."""
    global _PRELOADED
    with _LOCK:
        if not _PRELOADED:
            CONTEXT.set_forkserver_preload(["app.worker"])
            _PRELOADED = True
    return CONTEXT


class ClassroomError(RuntimeError):
    """Training was asked for while the app serves a classroom read-only."""


def guard_main() -> None:
    """Keep a worker process from re-running the app.

    multiprocessing re-executes, in each new process, a ``__main__`` module that has a file but no spec.
    Streamlit runs the app's script as such a ``__main__``; a spec named ``__main__`` makes multiprocessing
    leave it alone (``streamlit_app.py`` declares one too, for the runs it starts).
    """
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and getattr(main, "__file__", None):
        main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)


def prestart(classroom: bool = False) -> None:
    """Start the forkserver now, in the background, once per server process (not in classroom mode, which trains
    nothing). Starting it imports torch, ~3 s here, which the first Train click (or estimate) would otherwise wait
    for; with it running a run's worker reaches its first state in ~0.2 s (bench/live_start.py). The Train page
    calls this after it has drawn, so no page waits for it."""
    global _PRESTARTED
    with _LOCK:
        if _PRESTARTED or classroom:
            return
        _PRESTARTED = True
    guard_main()  # the forkserver is told the app's __main__: it must not run the app again
    threading.Thread(target=_start_forkserver, name="mambarec-forkserver", daemon=True).start()


def _start_forkserver() -> None:
    try:
        context()  # the preload first: the forkserver reads it when it starts
        multiprocessing.forkserver.ensure_running()  # the server CONTEXT's processes fork from (its preload set)
    except Exception:  # noqa: BLE001, S110  (a failed early start only costs the first run the start it always paid)
        pass


def max_parallel() -> int:
    """Runs at once: ``$MAMBAREC_MAX_PARALLEL``, else 2 (one per core on a 2-core machine)."""
    default = max(1, min(2, os.cpu_count() or 1))  # more runs than cores only slows every run
    try:
        return max(1, int(os.environ.get(PARALLEL_ENV, default)))
    except ValueError:
        return default


@dataclass
class Job:
    id: str
    run: RunConfig
    folder: Path
    owner: str = ""  # the session that started it (a short label, never a name)
    group: str | None = None  # jobs started together ("repeat with 3 seeds") share a group
    status: str = "queued"  # queued | building | running | saving | done | stopped | cancelled | failed
    events: list[dict] = field(default_factory=list)  # one row per evaluated epoch
    n_params: int | None = None
    result: object | None = None  # mambarec.train.TrainResult
    error: str | None = None
    traceback: str | None = None
    saved: bool = False
    stopped_by: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    stop_event: object = field(default_factory=CONTEXT.Event)  # shared with the worker process
    thread: threading.Thread | None = None  # reads the worker's messages
    process: object | None = None

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

    @property
    def place(self) -> int | None:
        """1 for the next job to start, 2 after it, ...; None when not queued."""
        with _LOCK:
            return _QUEUE.index(self.id) + 1 if self.id in _QUEUE else None

    def receive(self, message: tuple) -> None:
        """Apply one message of the worker (``app.worker``)."""
        kind, *rest = message
        if kind == "built":
            self.n_params, self.status = rest[0], "running"
        elif kind == "epoch":
            self.events.append(rest[0])
        elif kind == "result":
            self.result, self.saved = SimpleNamespace(**rest[0]), rest[1]
            self.status = ("stopped" if self.result.cancelled else "done") if self.saved else "cancelled"
        elif kind == "error":
            self.error, self.traceback, self.status = rest[0], rest[1], "failed"
            print(f"[mambarec app] run {self.id} failed:\n{self.traceback}", file=sys.stderr, flush=True)


def _unique_id(run: RunConfig, root: Path) -> str:
    base = new_run_id(run)
    rid, n = base, 1
    while rid in _JOBS or (root / rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def start(run: RunConfig, dataset, root: Path | None = None, group: str | None = None, owner: str = "",
          classroom: bool = False) -> Job:
    """Queue ``run`` on ``dataset``; it starts when a slot is free. Returns its job at once."""
    if classroom:
        raise ClassroomError("this server is in classroom mode: it shows lessons and precomputed runs, and "
                             "trains nothing")
    root = Path(root) if root is not None else runs_dir()
    with _LOCK:
        rid = _unique_id(run, root)
        job = Job(id=rid, run=run, folder=root / rid, group=group, owner=owner)
        job.thread = threading.Thread(target=_watch, args=(job, dataset), name=f"train-{rid}", daemon=True)
        _JOBS[rid] = job
        _QUEUE.append(rid)
        _dispatch()
    return job


def start_seeds(run: RunConfig, dataset, seeds: list[int], root: Path | None = None, owner: str = "",
                classroom: bool = False) -> list[Job]:
    """The same setup once per seed (mean and std over seeds on the Compare page)."""
    group = f"seeds-{time.strftime('%H%M%S')}-{id(run)}"
    return [start(dataclasses.replace(run, train=dataclasses.replace(run.train, seed=s)), dataset, root, group,
                  owner, classroom) for s in seeds]


def others(root: Path | None = None) -> dict[str, int]:
    """Runs training into the runs folder ``root`` from other processes than this server's workers (a `train` from
    the command line, a second server on the same folder): folder name -> process id. They take slots too: two
    servers on one folder had trained 2 + 2 runs on 2 cores, each server's page saying "Nothing is training"."""
    root = Path(root) if root is not None else runs_dir()
    with _LOCK:
        ours = {j.folder.name for j in _JOBS.values() if j.active and j.folder.parent == root}
    return {name: pid for name, pid in live_writers(root).items() if name not in ours}


def _dispatch() -> None:
    """Start queued jobs while slots are free, counting other processes' runs in the runs folder (call with _LOCK
    held); while only those hold the slots, look again in ``OTHERS_POLL_S`` (their end tells this server nothing)."""
    global _RETRY
    while _QUEUE and len(_RUNNING) < max_parallel():
        if len(_RUNNING) + len(others(_JOBS[_QUEUE[0]].folder.parent)) >= max_parallel():
            if _RETRY is None or not _RETRY.is_alive():
                _RETRY = threading.Timer(OTHERS_POLL_S, _redispatch)
                _RETRY.daemon = True
                _RETRY.start()
            return
        job = _JOBS[_QUEUE.pop(0)]
        _RUNNING.add(job.id)
        job.status, job.started = "building", time.time()
        job.thread.start()


def _redispatch() -> None:
    global _RETRY
    with _LOCK:
        _RETRY = None  # this timer's thread is still alive: _dispatch would not set another
        _dispatch()


def _watch(job: Job, dataset) -> None:
    """Start the job's worker process and apply its messages until it ends."""
    try:
        receive, send = context().Pipe(duplex=False)
        env = {k: os.environ[k] for k in ENV_PASSED if k in os.environ}
        job.process = context().Process(target=_in_worker, name=f"train-{job.id}", daemon=True,
                                        args=(job.run.to_json(), dataset, str(job.folder), env, send, job.stop_event,
                                              job.owner))
        guard_main()
        job.process.start()
        send.close()
        while job.active:
            try:
                if receive.poll(0.5):
                    job.receive(receive.recv())
                elif not job.process.is_alive() and not receive.poll(0):
                    break
            except (EOFError, OSError):
                break
        job.process.join()
        if job.active:  # the process ended without saying how (killed, out of memory)
            _died(job, job.process.exitcode, job.process.pid)
    except BaseException as exc:  # noqa: BLE001  (a thread's error must reach the page)
        job.error, job.traceback, job.status = f"{type(exc).__name__}: {exc}", "", "failed"
    finally:
        job.finished = time.time()
        with _LOCK:
            _RUNNING.discard(job.id)
            _dispatch()


def _died(job: Job, exitcode: int | None, pid: int | None) -> None:
    """Mark a job whose worker (``pid``) ended without a word, and list its last progress save (``app.worker``) as a
    stopped run when there is one: the run then loses only the epochs since that save."""
    how = (f"was killed by signal {-exitcode}" + (" (SIGKILL: the system's out-of-memory killer sends it)"
                                                  if exitcode == -signal.SIGKILL else "")
           if exitcode is not None and exitcode < 0 else f"ended with exit code {exitcode}")
    kept = adopt_progress(job.folder, pid)  # also when a page listing the runs adopted it first (adopt_orphans)
    if kept is not None:
        job.result = SimpleNamespace(best_epoch=kept["best_epoch"], epochs_run=kept["epochs_run"], cancelled=True,
                                     stopped_early=False, s_per_epoch=kept.get("s_per_epoch"),
                                     test={k[5:]: v for k, v in kept.items() if k.startswith("test/")})
        job.saved = True
    # the status last: it ends the job for whoever waits on it
    job.error, job.traceback, job.status = f"the training process {how} before reporting", "", "failed"


def _in_worker(*args) -> None:
    """The worker process's entry (the server never imports torch for a run)."""
    from app.worker import train_job  # lazy: torch, loaded once by the forkserver, not by the server

    train_job(*args)


def stop(job_id: str, by: str | None = None) -> None:
    """Stop a job from any session: a queued one never starts, a running one keeps its best state."""
    with _LOCK:
        job = _JOBS.get(job_id)
        if job is None or not job.active:
            return
        job.stop_event.set()
        job.stopped_by = by
        if job_id in _QUEUE:
            _QUEUE.remove(job_id)
            job.status, job.finished = "cancelled", time.time()


def get(job_id: str) -> Job | None:
    return _JOBS.get(job_id)


def all_jobs() -> list[Job]:
    with _LOCK:
        return sorted(_JOBS.values(), key=lambda j: j.created, reverse=True)


def queue() -> list[Job]:
    """Active jobs server-wide: running ones first (oldest first), then the queue in its order."""
    with _LOCK:
        running = sorted((_JOBS[i] for i in _RUNNING), key=lambda j: j.started or 0.0)
        return [*running, *(_JOBS[i] for i in _QUEUE)]


def wait(job_id: str, timeout: float | None = None) -> Job:
    """Block until the job has ended (tests and scripts; the app polls instead)."""
    job = _JOBS[job_id]
    deadline = None if timeout is None else time.time() + timeout
    while job.active and (deadline is None or time.time() < deadline):
        if job.thread is not None and job.thread.is_alive():
            job.thread.join(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.time())))
        else:
            time.sleep(0.02)
    return job


def forget(job_id: str) -> None:
    """Drop a finished job from the registry (its saved run stays on disk)."""
    with _LOCK:
        job = _JOBS.get(job_id)
        if job is not None and not job.active:
            del _JOBS[job_id]
