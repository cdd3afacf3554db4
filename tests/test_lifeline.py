"""Helper processes end with the process that started them (mambarec/lifeline.py): a pool's worker whose parent
dies mid-task must not wait forever on its own task pipe (the app's pools, the grid's workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mambarec.lifeline import alive

ROOT = Path(__file__).resolve().parents[1]
PARENT = """
import os, sys, time, multiprocessing
from concurrent.futures import ProcessPoolExecutor
sys.path.insert(0, {root!r})
from mambarec import lifeline
from mambarec import engines, replay
if {forkserver}:
    from app.jobs import CONTEXT as ctx
else:
    ctx = multiprocessing.get_context("spawn")
make = {{"app": lambda: lifeline.watched_pool(1, ctx),  # the app's pools
         "grid": lambda: lifeline.watched_pool(1, ctx, engines._init_worker, ({{}}, 1)),  # precompute's workers
         "replay": lambda: lifeline.watched_pool(1, ctx, replay._init, ({{}},)),
         "none": lambda: ProcessPoolExecutor(max_workers=1, mp_context=ctx)}}[{watch!r}]
pool = make()
open({pid_file!r}, "w").write(str(pool.submit(os.getpid).result()))
pool.submit(time.sleep, 1.5)  # busy when its parent dies, as the stale-check was when a server stopped
time.sleep(0.3)
os._exit(0)  # the server killed: no executor shutdown
"""


def orphan_after_parent_dies(tmp_path: Path, forkserver: bool, watch: str) -> tuple[int, bool]:
    """(the worker's pid, whether it is still alive 10 s after its parent died). Its pid comes in a file: an
    orphan keeps the inherited stdout open, so reading that to its end would wait for the orphan."""
    pid_file = tmp_path / "worker.pid"
    code = PARENT.format(root=str(ROOT), forkserver=forkserver, watch=watch, pid_file=str(pid_file))
    subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120, check=True)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return pid, alive(pid)


@pytest.mark.parametrize(("forkserver", "watch"), [(False, "app"), (True, "app"), (False, "grid"), (False, "replay")],
                         ids=["stale-check (spawn)", "estimate (forkserver)", "grid worker", "replay worker"])
def test_a_pool_worker_ends_when_the_process_that_started_it_dies(tmp_path, forkserver, watch):
    pid, still = orphan_after_parent_dies(tmp_path, forkserver, watch)
    assert not still, f"worker {pid} outlived its parent"


@pytest.mark.parametrize("forkserver", [False, True], ids=["spawn (stale-check)", "forkserver (estimate)"])
def test_without_the_watch_the_worker_is_left_behind(tmp_path, forkserver):  # what the watch is for
    pid, still = orphan_after_parent_dies(tmp_path, forkserver, "none")
    try:
        assert still
    finally:
        if alive(pid):
            os.kill(pid, 9)


def test_a_pool_worker_ends_in_silence_on_ctrl_c():
    """Ctrl-C reaches the whole process group: a worker waiting for its next task printed a multiprocessing
    traceback under the driver's one-line message (audit r73). It now exits at once, without a word."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import multiprocessing, os, signal, sys, time
        from mambarec.lifeline import watched_pool
        with watched_pool(1, multiprocessing.get_context("spawn")) as pool:
            pid = pool.submit(os.getpid).result()
            os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C does to it
            time.sleep(2)
            print("alive" if os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
                  else "ended", flush=True)
            os._exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ended" and "Traceback" not in done.stderr, done.stderr
