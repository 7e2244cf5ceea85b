"""Running items on a Dask distributed cluster (``pip install 'atelier[dist]'``).

The scheduler and its workers are Dask's own (``dask scheduler``, ``dask worker ADDRESS``); atelier only
submits :func:`~atelier.batch.worker.run_item` tasks through ``dask.distributed.Client``. Each worker
process keeps the library's per-process caches (VGG-19, trained networks) between tasks: that is its
worker-local cache, so a model is loaded once per worker process. Workers read the inputs and write the
outputs at the paths of the task: they must see the same files (one machine, or a shared file system).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from typing import Any

from ..errors import Interrupted, OptionError
from ..runtime import tune_allocator
from .sizing import cores
from .worker import outcome, run_item

KILLED = "The Dask worker running it died ({reason})."


_THREADS: int | None = None  # torch threads of this worker process, set by DaskCluster._configure


def _set_threads(n: int) -> int:
    global _THREADS
    _THREADS = n
    return n


def _use_threads() -> None:
    """Set up the worker for a task, as the local workers are set up.

    torch's thread count is set in the thread that runs the task: with OpenMP it is per thread. Checked:
    ``torch.set_num_threads(2)`` through ``client.run`` left a task's executor thread at 1 (Dask starts its
    worker processes with OMP_NUM_THREADS=1, which would leave a one-worker machine with one core busy).
    Dask's nanny also starts workers with MALLOC_TRIM_THRESHOLD_=65536, the opposite of the malloc tuning
    of ``atelier.runtime`` (worth 1.1-1.27x on a Gatys step): it is applied here as the CLI applies it."""
    tune_allocator()
    if _THREADS is not None:
        import torch

        if torch.get_num_threads() != _THREADS:
            torch.set_num_threads(_THREADS)


def _task(task: dict) -> tuple:
    """A batch item on a worker: (id, state, seconds, error), never an exception to unpickle."""
    _use_threads()
    return outcome(task["id"], run_item, task)


def _item(task: dict) -> tuple[str, Any]:
    """A web job on a worker: ("done", run_item's result) or ("failed", the sentence)."""
    _use_threads()
    box = {}
    _, state, _, error = outcome("", lambda: box.update(run_item(task)))
    return ("done", box) if state == "done" else ("failed", error or "The job was interrupted on the worker.")


def _first_done(futures: list, timeout: float, step: float = 0.02):
    """A finished future of ``futures`` (in any state), or None after ``timeout``. Polled: the client is
    not Dask's default one (``set_as_default=False``), which ``distributed.wait`` needs."""
    deadline = time.monotonic() + timeout
    while True:
        for f in futures:
            if f.done():
                return f
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


class DaskCluster:
    """A connection to a Dask scheduler. Each worker gets ``cores / threads`` torch threads per Dask thread
    of its machine, so the processes of one machine do not oversubscribe its cores."""

    def __init__(self, address, *, timeout: float = 10):
        try:
            from dask.distributed import Client
        except ImportError:
            raise OptionError("--scheduler needs Dask: pip install 'atelier[dist]'.") from None
        try:
            # address: "tcp://host:8786", or a LocalCluster object (tests, benchmarks)
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise OptionError(f"Cannot reach the Dask scheduler at {address} ({err}).") from None
        self.threads = self._configure()

    def _configure(self) -> int:
        """Set torch's threads on every worker; returns the Dask threads in all (the items in flight)."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if not workers:
            self.client.wait_for_workers(1, timeout=30)
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
        per_host = defaultdict(int)
        for w in workers.values():
            per_host[w["host"]] += w["nthreads"]
        host_cores = self.client.run(cores)
        for addr, w in workers.items():
            n = max(1, host_cores.get(addr, 1) // per_host[w["host"]])
            self.client.run(_set_threads, n, workers=[addr])
        return sum(w["nthreads"] for w in workers.values())

    def submit(self, fn, task: dict):
        return self.client.submit(fn, task, key=f"atelier-{task.get('id', 'job')}-{uuid.uuid4().hex[:8]}",
                                  pure=False)

    def call(self, task: dict, stop=lambda: False, poll: float = 0.25) -> dict:
        """Run one item on the cluster and return :func:`run_item`'s result; raises the item's sentence as
        an OptionError, or Interrupted when ``stop()`` turns true (the remote run is cancelled)."""
        future = self.submit(_item, task)
        while _first_done([future], poll) is None:
            if stop():
                future.cancel()
                raise Interrupted("Stopped.")
        try:
            state, payload = future.result()
        except Exception as err:  # noqa: BLE001 - KilledWorker, a lost connection: the item fails, saying so
            raise OptionError(KILLED.format(reason=f"{type(err).__name__}: {err}")) from None
        if state != "done":
            raise OptionError(payload)
        return payload

    def close(self) -> None:
        self.client.close()


class DaskPool:
    """The batch driver's backend on a cluster: up to twice the cluster's threads in flight."""

    def __init__(self, address):
        self.cluster = DaskCluster(address)
        self.slots = 2 * self.cluster.threads
        self.futures: dict[Any, str] = {}  # future -> task id

    def submit(self, task: dict) -> None:
        self.futures[self.cluster.submit(_task, task)] = task["id"]

    def next_result(self, timeout: float = 0.5):
        future = _first_done(list(self.futures), timeout)
        if future is None:
            return None
        tid = self.futures.pop(future)
        try:
            return future.result()
        except Exception as err:  # noqa: BLE001 - KilledWorker after the scheduler's retries, a lost connection
            return tid, "failed", 0.0, KILLED.format(reason=f"{type(err).__name__}: {err}")

    def close(self, *, stop: bool = False, timeout: float = 30.0) -> list[tuple]:
        """Cancel what has not finished (a running task finishes on its worker and writes its output
        atomically; the manifest counts it as not done, so a resume redoes it)."""
        late = []
        for future in list(self.futures):
            if future.done() and future.status == "finished":
                late.append(future.result())
            elif stop:
                future.cancel()
        self.futures.clear()
        self.cluster.close()
        return late

