"""``atelier batch``: many photos through any method, resumable, on local worker processes or a Dask cluster.

    items.py     inputs (files, folders, globs, CSV manifests with per-row overrides) and output names
    manifest.py  OUT_DIR/atelier-batch.json: item, state, seconds, error; what a resume reads
    worker.py    run_item (the one code path of an item: batch, Dask, web jobs) and the local process pool
    dask.py      the Dask backend (``atelier[dist]``): a client, per-worker torch threads
    driver.py    run_batch: plan, feed a backend, record, report progress, stop cleanly
"""

from __future__ import annotations

from .driver import BatchReport, default_workers, run_batch
from .worker import run_item


def connect_cluster(address):
    """A :class:`~atelier.batch.dask.DaskCluster` for ``address`` (a scheduler's ``tcp://host:port``): what
    ``atelier serve --scheduler`` submits its jobs through. Needs ``atelier[dist]``."""
    from .dask import DaskCluster

    return DaskCluster(address)


__all__ = ["BatchReport", "connect_cluster", "default_workers", "run_batch", "run_item"]
