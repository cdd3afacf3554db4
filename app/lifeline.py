"""Helper processes end with the server that started them.

The app computes in other processes: a live run (``app.jobs``, which ends at once when the server is gone:
its reports fail), the estimate's timing pool (``app.estimate``) and the precomputed folder's stale-check
(``app.evidence``). A pool's worker waits for its next task on a pipe whose write end it holds itself, so
when the server ends without shutting the pool down, the worker never sees the pipe close and waits forever.
Measured with the real app: a server stopped (SIGTERM) during its first ~20 s, while the stale-check ran,
left that worker behind (~0.5 GB); a server killed (SIGKILL, or out of memory) after timing a setup left the
estimate's worker, its fork server and the resource tracker (~0.65 GB). With the watch, all are gone within
seconds (``tests/test_lifeline.py``): ``watch_parent``, a pool's initializer given the server's pid, ends
the worker once the server is gone; the fork server and the resource tracker then end on their own.
"""

from __future__ import annotations

import os
import threading
import time

PARENT_POLL_S = 1.0  # how often a helper process looks for its parent (a sleep; no measurable CPU)


def watch_parent(server_pid: int | None = None, poll_s: float = PARENT_POLL_S) -> None:
    """Exit this process (status 0, no cleanup: nobody is left to read its results) once ``server_pid`` has
    ended, or, without one, once its parent has. Called first thing in a helper process (a pool's
    ``initializer``). A forkserver's child must name the server: the fork server outlives the app's server
    while a child of its own is alive, so the child's parent never changes."""
    parent = os.getppid()

    def gone() -> bool:
        if server_pid is None:
            return os.getppid() != parent
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, owned by another user (a reused pid: the server is gone)
            return True
        return False

    def watch() -> None:
        while not gone():
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


__all__ = ["watch_parent", "PARENT_POLL_S"]
