"""How many local workers: torch-free, so that ``atelier batch --help`` can say the default quickly."""

from __future__ import annotations

import os

MAX_DEFAULT_WORKERS = 8  # each worker holds its own copy of the networks (~0.35-0.65 GiB measured)


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers(n_cores: int | None = None) -> int:
    """One worker per core, each with one torch thread (benchmarks/results/batch_*.md: on 2 cores, 2x1
    threads beat 1x2), at most MAX_DEFAULT_WORKERS."""
    return max(1, min(MAX_DEFAULT_WORKERS, n_cores or cores()))
