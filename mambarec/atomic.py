"""Atomic file writes: a file is written under a temporary name beside it and renamed over the target, so a
crash never leaves a half-written file, and the temporary name carries the writer's process id, so two processes
writing the same path never share one (the run store, checkpoints, caches, the precompute journal). Files that
belong together (a dataset folder's interactions and features) are all written first and renamed last. Before
long work, ``unwritable`` says why a folder cannot take the files it will end with."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)``, then ``tmp`` renamed to ``path``: ``write_together`` of one file."""
    return write_together({path: write})[0]


def temporary_name(path: Path, pid: int) -> Path:
    """Where process ``pid`` writes ``path`` before the rename (left behind only by a writer killed mid-write)."""
    return path.with_name(f"{path.name}.{pid}.tmp{path.suffix}")


def write_together(writes: Mapping[Path, Callable[[Path], object]]) -> list[Path]:
    """Each ``write(tmp)`` under a temporary name that keeps its path's extension (``np.save`` appends ``.npy``
    otherwise), and only when all succeeded are they renamed over their targets, back to back: a failure while
    writing leaves the old files as they were and removes the temporary ones."""
    done: dict[Path, Path] = {}
    try:
        for path, write in writes.items():
            done[path] = tmp = temporary_name(path, os.getpid())
            write(tmp)
        for path, tmp in done.items():  # a rename that fails (the target is a folder) leaves no temporary file
            os.replace(tmp, path)
    except BaseException:
        for tmp in done.values():
            tmp.unlink(missing_ok=True)
        raise
    return list(done)


def unwritable(folder: Path) -> str | None:
    """Why no file can be written in ``folder`` (the system's words), or None when one can: a scratch file is
    written there and removed, with the folders made for it."""
    created = []
    p = Path(folder)
    while not p.exists() and p != p.parent:
        created.append(p)  # deepest first
        p = p.parent
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return str(exc.strerror or exc)
    finally:
        for made in created:
            try:
                made.rmdir()
            except OSError:
                break
    return None


__all__ = ["write_atomically", "write_together", "temporary_name", "unwritable"]
