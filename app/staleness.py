"""Whether ``precomputed/`` is still today's, checked in the background so that results paint first: the
numerics probes (``artifacts.staleness``) run once per folder version and server process, in a thread that hands
them to a fresh process.

Its own module, importing nothing that draws: the check's process unpickles ``_banner`` from here, and a module
with Streamlit-cached functions printed twelve "No runtime found" warnings into the server's log on every start
(rehearsal r55).
"""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from app import paths
from mambarec import lifeline
from mambarec.artifacts import load_precomputed, stale_notice, staleness

_lock = threading.Lock()
_done: dict[tuple, str | None] = {}
_running: set[tuple] = set()


def _banner(folder: str) -> str | None:
    """The stale-check's banner for ``folder`` (None: current)."""
    return stale_notice(Path(folder), staleness(load_precomputed(Path(folder))["manifest"]))


def _isolated(fn, *args):
    """``fn(*args)`` in a fresh process: the probes switch torch's process-wide default dtype to float64 while
    they run, which would leak into models that other sessions' threads build meanwhile."""
    with lifeline.watched_pool(1, multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _check(folder: str, signature: tuple) -> None:
    try:
        banner = _isolated(_banner, folder)
    except Exception as exc:  # noqa: BLE001  (a check that cannot run must say so, not take the page down)
        banner = f"Could not check whether the precomputed results are still today's: {exc}"
    with _lock:
        _done[(folder, signature)] = banner
        _running.discard((folder, signature))


def staleness_banner(folder: Path | None = None) -> tuple[bool, str | None]:
    """(ready, banner): the numerics-probe check of the folder (``artifacts.staleness``: seconds the first time
    per code version, then cached on disk) runs once per folder and process, in a thread; until it ends,
    ready is False and the page shows its results without waiting."""
    folder = folder or paths.precomputed_dir()
    signature = paths.precomputed_signature(folder)
    if not signature:
        return True, None
    key = (str(folder), signature)
    with _lock:
        if key in _done:
            return True, _done[key]
        if key not in _running:
            _running.add(key)
            threading.Thread(target=_check, args=key, name="mambarec-staleness", daemon=True).start()
    return False, None
