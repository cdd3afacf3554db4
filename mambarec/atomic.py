"""Atomic file writes: a file is written under a temporary name beside it and renamed over the target, so a
crash never leaves a half-written file, and the temporary name carries the writer's process id, so two processes
writing the same path never share one (the run store, checkpoints, caches, the precompute journal)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object], suffix: str = ".tmp") -> Path:
    """``write(tmp)``, then ``tmp`` renamed to ``path``; ``suffix`` ends the temporary name (a writer that appends
    its own extension, such as ``scipy.sparse.save_npz``, needs it to end in that extension)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}{suffix}")
    write(tmp)
    os.replace(tmp, path)
    return path


__all__ = ["write_atomically"]
