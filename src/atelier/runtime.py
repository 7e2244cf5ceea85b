"""Process-level tuning that front ends (the CLI, benchmarks) apply at start-up; the library never does.

glibc's malloc returns large buffers (every VGG activation is one) to the kernel with munmap and maps them
again on the next iteration, so each optimisation step pays hundreds of thousands of page faults. Keeping
them in the heap (no mmap for large blocks, no trimming) removed 28-38 % of the faults and sped a 512 px
Gatys step up by ~1.1-1.27x on our 2-core machines (PERFORMANCE.md measured 1.27x with the same settings
through GLIBC_TUNABLES). The cost: memory freed by a run stays with the process until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_done = False


def tune_allocator() -> bool:
    """Keep large allocations in glibc's heap (Linux only; a no-op elsewhere). True if applied."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 40) == 1
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        ok = False
    _done = ok
    logger.debug("malloc tuning %s", "applied" if ok else "not available")
    return ok


def resident_bytes() -> int:
    """This process's resident memory now: the base of the memory estimates (``--dry-run``).

    Not ``ru_maxrss`` on Linux: a child started by fork+exec inherits its parent's peak there (measured: a
    benchmark launched by a 1.3 GiB parent began at 1.3 GiB and over-estimated a 4K run by 38 %). Where
    /proc is missing (macOS, Windows) the peak so far is the best portable figure.
    """
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import resource
        except ImportError:  # Windows
            return 0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB
