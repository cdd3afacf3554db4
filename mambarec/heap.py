"""The C heap of a training process: freed tensors stay in it for the next step (docs/speed.md section 1).

A training step allocates and frees the same tensors step after step (on ml100k, DREAM's n x H*W x 5C maps are
4.3 MB each). glibc's malloc serves a block above its mmap threshold with fresh pages from the kernel and
returns them on free, and it gives back free memory at the top of its heap above the trim threshold, so each
step faults the same pages in again, zero-filled by the kernel: 1,000-3,000 page faults a step for `paper` on
ml100k, one thread. ``retain_freed_memory`` fixes both thresholds, so blocks up to ``MMAP_THRESHOLD_BYTES`` come
from the heap and up to ``TRIM_THRESHOLD_BYTES`` of free memory stays there: the faults fall below ~130 a step. It
changes where tensors live, never what is computed. Off glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc's largest mmap threshold on a 64-bit machine (DEFAULT_MMAP_THRESHOLD_MAX): larger blocks (Baby's 7,050 x
# 4,096 feature table) keep their own mappings
MMAP_THRESHOLD_BYTES = 32 << 20
# Free memory the heap may keep at its top: a few steps' worth of ml100k's temporaries, bounded so that a process
# that once peaked does not hold its peak for ever
TRIM_THRESHOLD_BYTES = 256 << 20


@functools.cache
def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process, once; whether they are set (False off glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                  TRIM_THRESHOLD_BYTES))
