"""Where saved runs and the precomputed folder live, and the signatures that key the caches of their tables.

Their own module because ``app.state`` imports ``app.results``, so ``app.results`` must not import ``app.state``
(no import cycles, docs/architecture.md); ``app.state`` re-exports them for the pages.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mambarec.catalog import printable_name
from mambarec.store import LOCK_NAME, runs_dir

PRECOMPUTED_ENV = "MAMBAREC_PRECOMPUTED"  # another precomputed folder (tests, a second grid)


def runs_root() -> Path:
    return runs_dir()


def runs_signature(root: Path) -> tuple:
    """Changes whenever a run folder is added, removed, renamed or rewritten (the cache key of the tables)."""
    if not root.is_dir():
        return ()
    out = []
    for folder in root.iterdir():
        metrics = folder / "metrics.json"
        with contextlib.suppress(OSError):  # a folder it may not read: listed as unreadable, still part of the key
            # the claim too: a run is left out while another process writes it (catalog.list_runs), and listed again
            # when the claim goes, after its metrics.json was written
            out.append((printable_name(folder), metrics.stat().st_mtime_ns if metrics.is_file() else None,
                        (folder / LOCK_NAME).exists()))
    return tuple(sorted(out, key=str))


def precomputed_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / "precomputed"
    return Path(os.environ.get(PRECOMPUTED_ENV, default))


SIGNED_FILES = ("manifest.json", "results.json")  # what the pages read: a change to either is a new folder


def precomputed_signature(folder: Path | None = None) -> tuple:
    """Changes whenever precompute swaps a new folder in (it writes the manifest last), and when the results file
    is damaged or restored by hand (a running server kept showing the old numbers, or the old error)."""
    root = folder or precomputed_dir()
    if not (root / "manifest.json").is_file():
        return ()
    return tuple((str(root / name), _mtime(root / name)) for name in SIGNED_FILES)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # not there, or gone since: a swap of the folder under way (audit r60, item 10)
        return None
