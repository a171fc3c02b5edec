"""Keep glibc's malloc from handing the engine's memory back to the OS after every step.

A training step allocates and frees the same arrays over and over: activations, their
gradients, temporaries. With glibc's defaults the freed memory at the top of the heap is
returned to the OS as soon as it exceeds 128 KiB, and arrays from 128 KiB up come from
fresh ``mmap`` pages, so the next step page-faults all of it back in: measured on the
DESIGN workloads, 230–580 page faults and 0.8–2 ms of kernel time per W-deep step (of
~6 ms), and 256 faults per MiB of every large activation on W-large.

At the first backward pass (or ``cr.compile`` trace) of the process, on Linux with
glibc, chainrule raises the trim threshold to 256 MiB and fixes the ``mmap`` threshold
at 32 MiB (the largest glibc would reach on its own), as ``MALLOC_TRIM_THRESHOLD_`` /
``MALLOC_MMAP_THRESHOLD_`` would. The cost: up to 256 MiB of freed memory stays with
the process instead of going back to the OS, and arrays of a few MiB come from the heap,
where they can fragment it: reading a 35 MB CSV with these settings from the start
peaked 9% higher, which is why they wait for training to begin. Nothing is changed when
the user set any ``MALLOC_*_`` variable (their choice wins), when
``CHAINRULE_MALLOC=default``, or where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 256 * 1024 * 1024
MMAP_THRESHOLD = 32 * 1024 * 1024
_USER_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_ARENA_MAX",
)

tuned = False  # whether this process's allocator was set by tune_allocator()
attempted = False  # read by the engine on every backward: one attribute, then nothing


def tune_allocator() -> bool:
    """Set glibc's trim and mmap thresholds (module doc); True when they were set."""
    global tuned, attempted
    attempted = True
    if tuned:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("CHAINRULE_MALLOC") == "default":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    libc = _libc()
    if libc is None or not hasattr(libc, "gnu_get_libc_version"):  # musl and others
        return False
    try:
        mallopt = libc.mallopt
    except AttributeError:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first, as glibc documents that
    # setting it (or the trim threshold) turns off its dynamic adjustment of both.
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return tuned


def release_free() -> bool:
    """Hand the free pages inside the heap back to the OS (glibc's ``malloc_trim``).

    For one-off peaks, when :func:`tune_allocator` set the thresholds (so the heap's
    top is not trimmed as it frees): ``cr.compile``'s trace holds a whole eager graph
    and frees it while it writes the code; the replay that follows needs much less,
    and without this the process would keep the trace's pages for good. True when
    called.
    """
    global _trim
    if not tuned:
        return False
    if _trim is None:
        libc = _libc()
        try:
            trim = libc.malloc_trim  # type: ignore[union-attr]
        except AttributeError:
            return False
        trim.argtypes = (ctypes.c_size_t,)
        trim.restype = ctypes.c_int
        _trim = trim
    _trim(0)
    return True


_LIBC: list[ctypes.CDLL | None] = []  # the C library, once opened (or None)
_trim: Any = None  # glibc's malloc_trim, once found


def _libc() -> ctypes.CDLL | None:
    """The process's C library, opened once and kept: each ``CDLL`` (and each function
    looked up on it) is a knot of ctypes objects that only the cyclic collector frees,
    about 200 KB of them, and ``cr.compile`` calls :func:`release_free` a dozen times
    per trace."""
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(None))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]
