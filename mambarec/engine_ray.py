"""The grid on Ray (docs/architecture.md section 4): every (dataset, cell, seed) task of ``precompute`` is a Ray
task, and results stream back to the driver as they finish, in any order.

* **Where:** ``address=None`` starts a Ray on this machine (all its cores, no dashboard, bound to 127.0.0.1,
  usage statistics off) and shuts it down afterwards; ``address="auto"`` (or ``"<head>:6379"``) joins a running
  cluster (``ray start --head``) and leaves it running.
* **Resources:** each task asks for ``cpus_per_task`` CPUs and trains with that many torch threads (at least 1);
  with ``device="cuda"`` it also asks for one GPU, and Ray gives each such task a fresh worker process
  (``max_calls=1``, Ray's own default for GPU functions), so a worker never keeps a GPU it was not assigned.
* **Data:** each dataset is put into Ray's object store once (``ray.put``); a task receives a reference, and a
  worker process fetches each dataset once, keeps a writable copy (objects in the store are read-only) and
  builds its graphs once for all the tasks it runs. The alternative for data larger than the object store, or
  a cluster whose nodes already hold it, is by path on shared storage: every node mounts the same data folder
  and a task would call ``load_dataset(name, data_dir=...)`` itself; the driver's fingerprint check (each
  result names the data it was trained on) refuses a node that loaded other data. Only the object store is
  wired here.
* **Failures:** a worker that dies mid-task (killed, out of memory, a node lost) is a system failure, which Ray
  retries up to ``max_retries`` times; an exception raised by a task is retried as often
  (``retry_exceptions=True``). A task that still fails is yielded with its exception: the driver lists it in
  the manifest and REPORT.md. Every finished result is journalled by the driver as it arrives, so no finished
  run is lost when a later one fails.
* **Same code everywhere:** a remote worker may run another mambarec; each result carries its cell's numerics
  probe as the worker computed it, and the driver refuses results whose probe differs from its own.

Ray is optional: it is imported only inside the functions below, and ``require_ray`` says what to install.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator

import numpy as np

from mambarec import tasks as grid_tasks
from mambarec.config import ConfigError
from mambarec.engines import cached_graphs, set_threads
from mambarec.tasks import Task

RAY_REQUIREMENT = "ray==2.60.0"
DEFAULT_MAX_RETRIES = 2
LOCAL_NODE_IP = "127.0.0.1"  # a Ray started here serves this machine only

_WORKER_DATA: dict[str, object] = {}  # per worker process: object-store id -> writable dataset copy
_WORKER_GRAPHS: dict[str, object] = {}  # per worker process: object-store id -> its graphs


def require_ray():
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray  # lazy: ray is an optional dependency, needed by --engine ray only
    except ImportError as exc:
        raise ConfigError(f"--engine ray needs Ray, which is not installed here: pip install {RAY_REQUIREMENT} "
                          "(requirements.txt pins it), or use --engine local") from exc
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` or, for None, start a local Ray of ``num_cpus`` CPUs (default: every
    core); True when this call started or joined it (the caller then shuts it down), False when this process
    was already connected."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report leaves the machine
    if address is None:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, _node_ip_address=LOCAL_NODE_IP,
                 configure_logging=False)
    else:
        ray.init(address=address, configure_logging=False)
    return True


def run_ray(tasks: list[Task], datasets: dict, address: str | None = None, cpus_per_task: float = 1.0,
            device: str = "cpu", max_retries: int = DEFAULT_MAX_RETRIES, num_cpus: int | None = None,
            execute: Callable | None = None) -> Iterator[tuple[Task, dict | BaseException]]:
    """Run ``tasks`` as Ray tasks; yield ``(task, result)`` as each finishes, or ``(task, exception)`` for one
    that failed after ``max_retries`` retries.

    ``execute(task, dataset, graphs)`` is what a worker does with a task (default ``mambarec.tasks.execute``;
    tests pass one that kills its worker). Closing the iterator early (the driver interrupted) cancels the
    tasks still pending.
    """
    ray = require_ray()
    if cpus_per_task <= 0:
        raise ConfigError(f"cpus_per_task must be positive, got {cpus_per_task}")
    if not tasks:
        return
    started = connect(address, num_cpus)
    pending: dict = {}
    try:
        _check_resources(ray.cluster_resources(), cpus_per_task, device)
        refs = {name: ray.put(datasets[name]) for name in sorted({t.dataset for t in tasks})}
        remote = ray.remote(max_calls=1 if device == "cuda" else 0)(_run_task)
        options = {"num_cpus": cpus_per_task, "num_gpus": 1 if device == "cuda" else 0,
                   "max_retries": max_retries, "retry_exceptions": True}
        threads = max(1, int(cpus_per_task))
        for task in tasks:  # the reference travels inside a list, so the worker fetches it only when uncached
            pending[remote.options(name=task.key, **options).remote(task, [refs[task.dataset]], threads,
                                                                    execute)] = task
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001  (reported by the driver, never lost)
                    yield task, _cause(exc)
                else:
                    yield task, result
    finally:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110  (already finished or gone: nothing to cancel)
                pass
        if started:
            ray.shutdown()


def _check_resources(resources: dict, cpus_per_task: float, device: str) -> None:
    """Refuse what the cluster cannot give (Ray would leave such tasks pending for ever)."""
    if device == "cuda" and resources.get("GPU", 0) < 1:
        raise ConfigError("--device cuda asks each task for a GPU, but this Ray cluster has none (start the nodes "
                          "with GPUs, or use --device cpu)")
    if cpus_per_task > resources.get("CPU", 0):
        raise ConfigError(f"--cpus-per-task {cpus_per_task:g} is more than this Ray cluster's "
                          f"{resources.get('CPU', 0):g} CPUs; give at most that, or join a larger cluster")


def _cause(exc: BaseException) -> BaseException:
    """The task's own exception where Ray wraps one (RayTaskError), else Ray's (a worker that died)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _run_task(task: Task, boxed_ref: list, threads: int, execute: Callable | None = None) -> dict:
    """A Ray worker's part: this process's copy of the dataset and its graphs (fetched and built once), torch on
    ``threads`` threads, then ``execute``."""
    import ray  # lazy: runs inside a Ray worker only

    set_threads(threads)  # per task: a library (umap) may have changed it since the last one
    ref = boxed_ref[0]
    key = ref.hex()
    if key not in _WORKER_DATA:
        _WORKER_DATA[key] = writable(ray.get(ref))
    dataset = _WORKER_DATA[key]
    return (execute or grid_tasks.execute)(task, dataset, cached_graphs(_WORKER_GRAPHS, key, task, dataset))


def writable(dataset):
    """``dataset`` with arrays that may be written (those from Ray's object store are read-only views)."""
    fields = ("train", "valid", "test", "visual", "text")
    if all(getattr(dataset, f).flags.writeable for f in fields):
        return dataset
    return dataclasses.replace(dataset, **{f: np.array(getattr(dataset, f)) for f in fields})


__all__ = ["run_ray", "connect", "require_ray", "writable", "RAY_REQUIREMENT", "DEFAULT_MAX_RETRIES"]
