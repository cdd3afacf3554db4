"""Worker processes end with the process that started them.

The grid's workers (``mambarec.engines``, ``mambarec.replay``) and the app's helpers (the estimate's timing
pool, ``app.estimate``; the precomputed folder's stale-check, ``app.staleness``) run in process pools. A pool's
worker waits for its next task on a pipe whose write end it holds itself, so when its parent ends without
shutting the pool down (killed, or out of memory), the worker never sees the pipe close: it finishes the task
it had (a grid run: up to an hour) and then waits forever. Measured with the real app: a server stopped
(SIGTERM) during its first ~20 s, while the stale-check ran, left that worker behind (~0.5 GB); a server
killed (SIGKILL) after timing a setup left the estimate's worker, its fork server and the resource tracker
(~0.65 GB). A live run's worker needs nothing: it ends at its next report to a server that is gone.
``watched_pool`` makes pools whose workers end within seconds of their creator (``tests/test_lifeline.py``);
the fork server and the resource tracker then end on their own. This module imports nothing heavy: the app's
server imports it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

PARENT_POLL_S = 1.0  # how often a worker looks for the process that created its pool (a sleep; no measurable CPU)


def watched_pool(workers: int, context, initializer: Callable | None = None, initargs: tuple = ()
                 ) -> ProcessPoolExecutor:
    """A process pool (``context``: a multiprocessing context) whose workers end once this process has ended,
    even killed; ``initializer(*initargs)`` runs in each worker after the watch is set."""
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                               initargs=(os.getpid(), initializer, initargs))


INTERRUPTED_STATUS = 130  # a worker's exit status on Ctrl-C (128 + SIGINT), as a shell reports it


def _start(creator: int, initializer: Callable | None, initargs: tuple) -> None:
    # Ctrl-C in a terminal reaches the whole process group: a worker waiting for its next task printed a
    # multiprocessing traceback under the driver's one-line message (audit r73). The driver says what was kept;
    # a worker ends at once, in silence (what it was computing is the driver's to report or run again).
    signal.signal(signal.SIGINT, lambda *_: os._exit(INTERRUPTED_STATUS))
    watch_parent(creator)
    if initializer is not None:
        initializer(*initargs)


def alive(pid: int) -> bool:
    """Whether process ``pid`` is ours and running (a pid owned by another user counts as gone: it was reused)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def watch_parent(pid: int, poll_s: float = PARENT_POLL_S) -> None:
    """Exit this process (status 0, no cleanup: nobody is left to read its results) once process ``pid`` has
    ended. The pid is given, not read as the parent: a fork server outlives the app's server while a child of its
    own is alive, so that child's parent never changes."""

    def watch() -> None:
        while alive(pid):
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


__all__ = ["watched_pool", "watch_parent", "alive", "PARENT_POLL_S"]
