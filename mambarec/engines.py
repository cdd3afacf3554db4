"""Where the grid's tasks run (docs/architecture.md section 4): this machine's process pool (``local``,
the default) or a Ray cluster (``mambarec.engine_ray``). An engine yields ``(task, result)`` pairs as
tasks finish, in any order; a task that failed after its retries yields its exception instead, so the
driver records it and keeps every finished run.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from threadpoolctl import threadpool_limits

from mambarec.lifeline import watched_pool
from mambarec.tasks import Task, execute

DEFAULT_WORKERS = 2  # one run per core of the 2-core target machine
DEFAULT_RETRIES = 1  # a task that fails (a killed worker, say) is tried once more

_WORKER: dict[str, Any] = {}  # per process: the datasets, their graphs (built once) and the thread count


def _init_worker(datasets: dict, threads: int | None) -> None:
    _WORKER.update(datasets=datasets, graphs={}, threads=threads)


def set_threads(n: int) -> None:
    """``n`` threads for torch and for the BLAS and OpenMP pools numpy and scipy use. Set per task: a library
    (umap) may have changed them since the last one; left at two, numpy's OpenBLAS spun 5x slower on the ground
    truth's small eigenproblems while the other core trained."""
    import torch  # lazy: the driver lists and plans tasks without torch

    torch.set_num_threads(n)
    threadpool_limits(limits=n)


def run_in_worker(task: Task) -> dict:
    """Execute ``task`` with this process's datasets and graphs (built at the first task that needs them)."""
    if _WORKER.get("threads") is not None:
        set_threads(_WORKER["threads"])
    dataset = _WORKER["datasets"][task.dataset]
    return execute(task, dataset, cached_graphs(_WORKER["graphs"], task.dataset, task, dataset))


def cached_graphs(cache: dict, key, task: Task, dataset):
    """The graphs ``task`` needs on ``dataset``, kept in ``cache[key]``: built at the first task of a worker and
    rebuilt only when a task needs k-NN graphs the cached ones lack."""
    from mambarec.model.zoo import graphs_for, model_class  # lazy: the model zoo imports torch

    run = task.run_config()
    graphs = cache.get(key)
    if graphs is None or not graphs.has_knn(model_class(run.model_name).graph_ks(run.model)):
        graphs = cache[key] = graphs_for([run], dataset)
    return graphs


def run_local(tasks: list[Task], datasets: dict, workers: int = DEFAULT_WORKERS, retries: int = DEFAULT_RETRIES,
              on_start: Callable[[Task], None] | None = None) -> Iterator[tuple[Task, dict | BaseException]]:
    """Run ``tasks`` in ``workers`` processes (one torch thread each; inline when ``workers`` <= 1)."""
    if workers <= 1:
        _init_worker(datasets, None)
        for task in tasks:
            if on_start:
                on_start(task)
            yield task, _attempts(task, retries)
        return
    pending = list(tasks)
    tries = {t.key: 0 for t in tasks}
    while pending:
        ctx = multiprocessing.get_context("spawn")
        broken = False
        with watched_pool(workers, ctx, _init_worker, (datasets, 1)) as pool:  # workers end with the driver
            futures = {pool.submit(run_in_worker, t): t for t in pending}
            pending = []
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in finished:
                    task = futures.pop(fut)
                    try:
                        yield task, fut.result()
                    except BaseException as exc:  # noqa: BLE001  (reported by the driver, never lost)
                        tries[task.key] += 1
                        broken |= isinstance(exc, BrokenProcessPool)
                        if tries[task.key] <= retries:
                            print(f"warning: {task.key} failed ({type(exc).__name__}: {exc}); retrying",
                                  file=sys.stderr)
                            pending.append(task)
                        else:
                            yield task, exc
                if broken:  # a killed worker breaks the pool: the others' tasks are resubmitted to a new one
                    for fut, task in futures.items():
                        fut.cancel()
                        pending.append(task)
                    futures = {}


def _attempts(task: Task, retries: int) -> dict | BaseException:
    for attempt in range(retries + 1):
        try:
            return run_in_worker(task)
        except Exception as exc:  # noqa: BLE001
            if attempt == retries:
                return exc
            print(f"warning: {task.key} failed ({type(exc).__name__}: {exc}); retrying", file=sys.stderr)
    raise AssertionError("unreachable")


__all__ = ["run_local", "run_in_worker", "cached_graphs", "DEFAULT_WORKERS", "DEFAULT_RETRIES"]
