"""Keep freed memory in the process heap during training (glibc ``mallopt``).

PyTorch's CPU tensors come from ``malloc``. glibc serves every block above its mmap
threshold (at most 32 MiB) with a fresh ``mmap`` and returns it with ``munmap`` on free,
so each training step faults in, and the kernel zeroes, every activation and gradient
page again: at input 288 and batch 64, 3.9 million 4 KiB page faults per step
(``python -m benchmarks.train_step_speed``) and a quarter of a real training run's CPU
time in the kernel (session 13, docs/training_experiments.md).
Telling glibc to serve large blocks from the heap and not to trim it keeps those pages
mapped from one step to the next, which is what jemalloc or tcmalloc do when preloaded,
without a library that a clean machine lacks.

Only glibc has ``mallopt``; elsewhere (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

#: Set to ``0`` to leave glibc's defaults alone (for comparison runs).
ENV_SWITCH = "DEEPPRODUCT_HEAP_REUSE"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc to serve every block from the heap and never give freed pages back.

    Idempotent; a process-wide setting from this call on (blocks already mapped are
    unaffected). Freed pages stay resident, so peak RSS grows (6.8 -> 9.6 GB for the
    default at 288 on the grocery data).

    Returns:
        Whether the setting is active (False off glibc or with ``DEEPPRODUCT_HEAP_REUSE=0``).
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get(ENV_SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. glibc stores the trim threshold as a size_t, so -1
    # is the largest threshold: the heap top is never handed back (2**31 - 1 would
    # still trim a free top of 2 GiB, less than one step's activations at 288).
    _applied = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))
    return _applied
