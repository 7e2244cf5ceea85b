"""``atelier batch``: many photos through any method, resumable, on local worker processes or a Dask cluster.

    items.py     inputs (files, folders, globs, CSV manifests with per-row overrides) and output names
    manifest.py  OUT_DIR/atelier-batch.json: item, state, seconds, error; what a resume reads
    worker.py    run_item (the one code path of an item: batch, Dask, web jobs) and the local process pool
    dask.py      the Dask backend (``atelier[dist]``): a client, per-worker torch threads
    driver.py    run_batch: plan, feed a backend, record, report progress, stop cleanly
    sizing.py    cores() and default_workers(), torch-free
"""

from __future__ import annotations

import importlib

from .sizing import cores, default_workers

_LAZY = {"run_batch": ".driver", "BatchReport": ".driver", "run_item": ".worker"}  # they import torch


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'atelier.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)


def connect_cluster(address):
    """A :class:`~atelier.batch.dask.DaskCluster` for ``address`` (a scheduler's ``tcp://host:port``): what
    ``atelier serve --scheduler`` submits its jobs through. Needs ``atelier[dist]``."""
    from .dask import DaskCluster

    return DaskCluster(address)


__all__ = ["BatchReport", "connect_cluster", "cores", "default_workers", "run_batch", "run_item"]
