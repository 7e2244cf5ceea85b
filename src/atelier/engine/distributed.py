"""Several processes training one network: ranks, the process group, and what the ranks agree on.

``torchrun --nproc-per-node N -m atelier train ...`` starts N copies of the command with the environment
variables RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. The training loop
(``engine.train``) then joins them into one process group (gloo on the CPU, nccl on CUDA) and wraps the
step in ``torch.nn.parallel.DistributedDataParallel`` (Li et al. 2020, "PyTorch Distributed: Experiences
on Accelerating Data Parallel Training"): every rank computes the loss of its share of the batch
(``engine.data``: the global batch is split over the ranks) and the gradients are averaged over the ranks
before each optimizer step, so every rank keeps identical weights and optimizer state.

Without those variables (or with WORLD_SIZE=1) nothing here does anything: ``rank() == 0``,
``world_size() == 1``, no process group, no collective operation, exactly the single-process run.

Network: when MASTER_ADDR is a loopback address (every rank on this machine) and GLOO_SOCKET_IFNAME is
not set, gloo is told to use the loopback interface. Left alone, gloo connects the ranks through the address
the machine's host name resolves to, and on machines whose firewall drops traffic to that address (sandboxes,
containers, laptops on some VPNs) the ranks wait for each other until the timeout. ATELIER_DIST_TIMEOUT
(seconds; torch's default of 30 minutes otherwise) bounds every wait: joining the group and each collective.

Threads: torchrun sets OMP_NUM_THREADS=1 in every worker unless the user set it, which would leave cores
idle when there are fewer processes than cores; :func:`threads_per_process` replaces that default by
cores / processes on this machine. Another OMP_NUM_THREADS value, or ATELIER_NUM_THREADS, is kept.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import json
import logging
import os
import socket

import torch

logger = logging.getLogger(__name__)

# What torchrun (torch.distributed.run) sets in every worker; all of them mean "launched".
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _group_active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def launched() -> bool:
    """True in a worker of a multi-process launch (torchrun's variables present, WORLD_SIZE > 1)."""
    return all(v in os.environ for v in LAUNCH_VARIABLES) and int(os.environ["WORLD_SIZE"]) > 1


def rank() -> int:
    """This process's rank: of the active process group, else of the launch, else 0."""
    if _group_active():
        return torch.distributed.get_rank()
    return int(os.environ["RANK"]) if launched() else 0


def world_size() -> int:
    """Processes training together: of the active process group, else of the launch, else 1."""
    if _group_active():
        return torch.distributed.get_world_size()
    return int(os.environ["WORLD_SIZE"]) if launched() else 1


def is_main() -> bool:
    """True on the process that writes (checkpoints, previews, the model, progress): rank 0."""
    return rank() == 0


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_process() -> int:
    """torch threads of one rank: ATELIER_NUM_THREADS, else OMP_NUM_THREADS unless it is torchrun's default
    of 1, else the usable cores divided by the ranks on this machine (LOCAL_WORLD_SIZE)."""
    for name in ("ATELIER_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0 and (name == "ATELIER_NUM_THREADS" or value != "1"):
            return int(value)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, usable_cores() // max(1, local))


@contextlib.contextmanager
def process_group(device: torch.device):
    """Join the launch's process group for the ``with`` block (left again at its end); yields True when
    this process trains with others. A group the caller made already is used and left as it is."""
    if _group_active():
        yield torch.distributed.get_world_size() > 1
        return
    if not launched():
        yield False
        return
    torch.set_num_threads(threads_per_process())
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if backend == "gloo":
        _gloo_on_loopback_when_local()
    # torch's default timeout (30 min) unless ATELIER_DIST_TIMEOUT: ranks may wait that long for one that is
    # slow to set up (listing a large data folder over a network file system); a rank that dies is noticed
    # by torchrun, which stops all.
    torch.distributed.init_process_group(backend, timeout=_timeout())
    logger.info("Rank %d of %d joined the process group (%s, %d threads).", rank(), world_size(), backend,
                torch.get_num_threads())
    try:
        yield True
    finally:
        torch.distributed.destroy_process_group()


def _timeout() -> datetime.timedelta | None:
    value = os.environ.get("ATELIER_DIST_TIMEOUT", "")
    try:
        seconds = float(value) if value else 0.0
    except ValueError:
        seconds = 0.0
    if not seconds > 0:  # unset, unreadable, 0 or nan: torch's default
        if value:
            logger.warning("ATELIER_DIST_TIMEOUT=%r is not a positive number of seconds; using torch's default.", value)
        return None
    return datetime.timedelta(seconds=seconds)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _gloo_on_loopback_when_local() -> None:
    """GLOO_SOCKET_IFNAME = the loopback interface ("lo" on Linux, "lo0" on macOS) when every rank runs
    here (MASTER_ADDR is a loopback address) and the user chose no interface (see the module doc)."""
    if "GLOO_SOCKET_IFNAME" in os.environ or not _is_loopback(os.environ.get("MASTER_ADDR", "")):
        return
    try:
        names = [name for _, name in socket.if_nameindex()]
    except (AttributeError, OSError):  # a platform without if_nameindex: gloo keeps its default
        return
    loopback = next((n for n in names if n in ("lo", "lo0")), None)
    if loopback is not None:
        os.environ["GLOO_SOCKET_IFNAME"] = loopback
        logger.debug("Ranks on this machine: gloo uses the loopback interface %s.", loopback)


def any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag OR-ed over all ranks (one all-reduce; no communication in a single process). Every rank
    must call it at the same point: that is how all ranks stop at the same step."""
    if world_size() == 1:
        return tuple(bool(f) for f in flags)
    t = torch.tensor([int(bool(f)) for f in flags], dtype=torch.int32, device=_collective_device())
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def mean_over_ranks(values: list[float]) -> list[float]:
    """Each value averaged over the ranks (one all-reduce; the values themselves in a single process)."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return (t / world_size()).tolist()


def same_on_all_ranks(value) -> bool:
    """True if ``value`` (anything JSON can write) is the same on every rank (a digest compared by MIN/MAX)."""
    if world_size() == 1:
        return True
    text = json.dumps(value, sort_keys=True, default=str).encode()
    digest = int.from_bytes(hashlib.blake2b(text, digest_size=7).digest(), "little")  # < 2^56: exact in int64
    t = torch.tensor([digest, -digest], dtype=torch.int64, device=_collective_device())
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return int(t[0]) == digest and -int(t[1]) == digest


def global_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean over all ranks of a detached statistic of the local batch (each rank's batch is the same
    size, so this is the statistic of the whole batch): for a loss normalised by a batch-wide quantity,
    which the gradient averaging alone would not make equal to the single-process loss."""
    value = value.detach()
    if world_size() == 1:
        return value
    out = value.float().clone()
    torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
    return (out / world_size()).to(value.dtype)


def _collective_device() -> torch.device:
    # nccl only moves CUDA tensors; gloo CPU ones.
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _StepModule(torch.nn.Module):
    """The whole training step as one module: DistributedDataParallel averages the gradients of the
    parameters it wraps only when the forward goes through it, and a step function may call any
    submodules (AdaIN: ``net.decoder``)."""

    def __init__(self, model: torch.nn.Module, step_fn):
        super().__init__()
        self.model, self.step_fn = model, step_fn

    def forward(self, batch):
        return self.step_fn(batch)


def data_parallel_step(model: torch.nn.Module, step_fn, device: torch.device):
    """``step_fn`` run through DistributedDataParallel over ``model``'s parameters. DDP broadcasts rank 0's
    weights once here and averages the gradients during ``backward``, bucket by bucket as the backward pass
    produces them. Every trainable parameter must get a gradient in every step (true of every trainer here;
    frozen ones, ``requires_grad=False``, are left out): ``find_unused_parameters`` would allow otherwise at
    the cost of a walk of the autograd graph per step."""
    from torch.nn.parallel import DistributedDataParallel

    wrapped = _StepModule(model, step_fn)
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(wrapped, device_ids=ids)


@contextlib.contextmanager
def signals_as_flag():
    """While training with others, Ctrl-C and SIGTERM only raise a flag (the yielded list becomes
    non-empty): a rank that stopped in the middle of a step would leave the others waiting in the gradient
    all-reduce, so the ranks finish the step, agree (:func:`any_rank`) and stop together. A signal that is
    ignored (SIGINT of a job started with '&') stays ignored. Main thread only (elsewhere nothing changes)."""
    import signal
    import threading

    caught: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) != signal.SIG_IGN:
                previous[sig] = signal.signal(sig, lambda signum, _frame: caught.append(signum))
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
