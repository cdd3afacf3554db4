"""After a page has painted, import the heavy libraries in a background thread, once per process, so the
first switch to Compare's charts, Embeddings or the DREAM inspector does not wait for them (on this
project's 2-core machine torch alone takes seconds to import).

Only third-party packages are warmed, one after another: none of them imports this app, so an import
in a page's thread can wait on the warm-up's lock but never deadlock with it.
"""

from __future__ import annotations

import importlib
import threading

MODULES = ("plotly.graph_objects", "plotly.subplots", "scipy.stats", "torch")
_lock = threading.Lock()
_started = False


def _run() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S110  (a warm-up that fails only costs the page its own import later)
            pass


def start() -> None:
    """Start the warm-up (a no-op after the first call in this process)."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    threading.Thread(target=_run, name="mambarec-warmup", daemon=True).start()
