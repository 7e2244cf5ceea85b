"""The network trainer shared by every trainable method (johnson, adain, sanet: ``methods/*/train.py``).

:func:`train` knows nothing of VGG, styles or terminals: it gets a model, an optimizer, a batch iterator and
a ``step_fn(batch) -> {"total": loss, other named terms...}``, and runs optimisation steps until ``steps``
are done or the ``minutes`` budget would be exceeded by the next step, emitting :mod:`atelier.events`:

* :class:`~atelier.events.Stage` once, then :class:`~atelier.events.Progress` after every step (losses,
  elapsed seconds, ETA from the measured step time; every ``preview_every`` steps ``image=preview_fn()``),
  then :class:`~atelier.events.Done`.
* Checkpoints (``engine.checkpoint``: weights, optimizer, step, RNG states, config, and the batch stream's
  position if it has ``state_dict``) every ``checkpoint_every`` steps, at the end and on Ctrl-C. They are
  written atomically, so a killed run (SIGKILL, power cut) loses at most one checkpoint interval.
* ``resume=True`` restores all of that, so 2 + 2 resumed steps give bit for bit the weights of 4 steps.
  ``steps`` counts the whole run (a resumed run at step 1500 with ``steps=2000`` does 500 more; give a
  larger ``steps`` to train further); the ``minutes`` budget counts this session only.
* Ctrl-C: the step in progress is abandoned (or, if the optimizer was already updating the weights,
  finished first, so weights and optimizer state never disagree), the checkpoint of the last completed step
  is written, and :class:`~atelier.errors.Interrupted` is raised with the :class:`TrainResult` as ``partial``.

Several processes (``torchrun``; ``engine.distributed``): the loop joins the launch's process group and runs
``step_fn`` through DistributedDataParallel, so the gradients are averaged over the ranks, each of which
computed the loss of its share of the batch (``engine.data`` splits the global batch). Rank 0 alone emits
events (progress, previews), logs and writes checkpoints; the others compute the same steps silently. The
ranks agree before every step (one all-reduce of a few flags) on stopping: the time budget as any rank's
clock sees it, and Ctrl-C/SIGTERM received by any rank, which there only raise a flag, so the step in
progress is finished everywhere and all ranks stop after the same step; a non-finite loss on any rank
stops all of them before the backward pass. The checkpoint holds nothing that depends on the number of
ranks (unwrapped weights, optimizer state, step, the data stream's global position), so a run can resume
with another number of processes, or in one.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import Interrupted, OptionError
from ..events import Callback, Done, Progress, Stage, emit
from . import checkpoint as ckpt
from . import distributed

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    steps: int  # total steps of the run (including those before a resume)
    session_steps: int  # steps done in this session
    seconds: float  # this session's wall time
    total_seconds: float  # training time over all sessions (sessions before a resume included)
    losses: dict[str, float]  # terms of the last step
    stopped_by: str  # "steps", "time" or "interrupt"
    history: list[float] = field(default_factory=list)  # total loss of each step of this session


@contextlib.contextmanager
def _defer_sigint():
    """Hold back Ctrl-C (and SIGTERM where the command line turned it into an interrupt) while the optimizer
    updates the weights, then raise KeyboardInterrupt (main thread only). A signal that is ignored (SIGINT
    of a job started in the background with '&') or left to its default stays as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if callable(signal.getsignal(sig)):
                previous[sig] = signal.signal(sig, lambda *_: caught.append(True))
    except ValueError:  # not allowed here (e.g. an embedded interpreter)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if caught:
        raise KeyboardInterrupt


def train(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    batches: Iterator,
    steps: int | None = None,
    minutes: float = 0.0,
    generator: torch.Generator | None = None,
    checkpoint_path=None,
    checkpoint_every: int = 0,
    checkpoint_info: dict | None = None,
    resume: bool = False,
    preview_fn: Callable[[], torch.Tensor] | None = None,
    preview_every: int = 0,
    callback: Callback | None = None,
    stage_name: str = "train",
    size: tuple[int, int] = (0, 0),
) -> TrainResult:
    """Train ``model`` until ``steps`` (total) are done or the ``minutes`` budget ends; see the module doc.

    ``checkpoint_info``: ``method``, ``arch`` and ``config`` (JSON) written into every checkpoint.
    ``size``: the (H, W) of the training crops, for the Stage event.
    """
    device = next(iter(model.parameters()), torch.empty(0)).device
    with distributed.process_group(device) as shared:
        return _train(model=model, optimizer=optimizer, step_fn=step_fn, batches=batches, steps=steps,
                      minutes=minutes, generator=generator, checkpoint_path=checkpoint_path,
                      checkpoint_every=checkpoint_every, checkpoint_info=checkpoint_info, resume=resume,
                      preview_fn=preview_fn, preview_every=preview_every, callback=callback,
                      stage_name=stage_name, size=size, shared=shared, device=device)


def _train(*, model, optimizer, step_fn, batches, steps, minutes, generator, checkpoint_path, checkpoint_every,
           checkpoint_info, resume, preview_fn, preview_every, callback, stage_name, size, shared: bool,
           device) -> TrainResult:
    """:func:`train` inside the process group (``shared``: this process trains with others)."""
    if not steps and not minutes:
        raise OptionError("Training needs a number of steps or a time budget in minutes (or both).")
    if (steps is not None and steps < 0) or minutes < 0 or checkpoint_every < 0 or preview_every < 0:
        raise OptionError("Steps, minutes, checkpoint and preview intervals must be 0 or more.")
    info = dict(checkpoint_info or {})
    path = None if checkpoint_path is None else Path(checkpoint_path)
    main = distributed.is_main()  # rank 0 (or the only process): events, logs, checkpoints
    if not main:
        callback, preview_every = None, 0
    step = 0
    earlier_seconds = 0.0  # training time of the sessions before a resume
    if resume:
        if path is None or not path.is_file():
            raise OptionError(f"Cannot resume: there is no checkpoint '{path}'.")
        header = ckpt.load_checkpoint(path, model=model, optimizer=optimizer, generator=generator,
                                      method=info.get("method"))
        step = int(header["step"])
        earlier_seconds = float(header.get("extra", {}).get("seconds", 0.0))
        data_state = header.get("extra", {}).get("data")
        if data_state is not None and hasattr(batches, "load_state_dict"):
            batches.load_state_dict(data_state)
        if main:
            logger.info("Resumed from %s at step %d.", path, step)
    if shared:
        # Ranks that disagree here would wait for each other forever (different steps or data streams: an
        # old copy of the checkpoint, another data folder on one machine).
        position = batches.state_dict() if hasattr(batches, "state_dict") else None
        if not distributed.same_on_all_ranks([step, position]):
            raise OptionError("The training processes do not agree on the step or the training images: every "
                              "machine needs the same data folders and the same checkpoint.")
        run_step = distributed.data_parallel_step(model, step_fn, device)
    else:
        run_step = step_fn

    def save(at_step: int) -> None:
        if path is None or not main:
            return
        extra = {"seconds": round(earlier_seconds + time.perf_counter() - start, 3)}
        if hasattr(batches, "state_dict"):
            extra["data"] = batches.state_dict()
        ckpt.save_checkpoint(path, method=info.get("method", "unknown"), arch=info.get("arch", {}),
                             config=info.get("config", {}), step=at_step, model=model, optimizer=optimizer,
                             generator=generator, extra=extra)
        logger.debug("Checkpoint at step %d written to %s.", at_step, path)

    start = time.perf_counter()
    budget = minutes * 60.0
    start_step = step
    step_time: float | None = None  # exponential average of the measured seconds per step
    losses: dict[str, float] = {}
    history: list[float] = []
    planned = steps or 0

    def eta() -> float | None:
        if step_time is None:
            return None
        left = [] if not steps else [(steps - step) * step_time]
        if budget:
            left.append(max(0.0, budget - (time.perf_counter() - start)))
        return min(left)

    def total_planned() -> int:
        # With only a time budget the total is an estimate from the measured step time.
        if steps:
            return steps
        if step_time is None:
            return step + 1
        return step + max(0, int((budget - (time.perf_counter() - start)) / step_time))

    def undo_unfinished_step() -> None:
        # The step in progress was not applied: undo its random draws so the checkpoint is the state after
        # the last applied step (a resumed run then draws the same batch again).
        if snapshot is not None:
            gen_state, torch_state, data_state = snapshot
            if gen_state is not None:
                generator.set_state(gen_state)
            torch.set_rng_state(torch_state)
            if data_state is not None:
                batches.load_state_dict(data_state)

    emit(callback, Stage(name=stage_name, index=0, total=1, size=tuple(size), iterations=planned))
    stopped_by = "steps"
    snapshot = None  # RNG and stream states before the step in progress; None once it has been applied
    model.train()
    # With other ranks, signals only raise a flag (see engine.distributed.signals_as_flag); alone, Ctrl-C
    # raises KeyboardInterrupt where it arrives and the weight update holds it back (_defer_sigint).
    signals = distributed.signals_as_flag() if shared else contextlib.nullcontext([])
    update_guard = contextlib.nullcontext if shared else _defer_sigint
    try:
        with signals as caught:
            while True:
                if steps and step >= steps:
                    break
                elapsed = time.perf_counter() - start
                out_of_time = bool(budget) and (elapsed >= budget or (step_time is not None
                                                                      and elapsed + step_time > budget))
                out_of_time, signalled = distributed.any_rank(out_of_time, bool(caught)) if shared else (
                    out_of_time, False)
                if signalled:
                    raise KeyboardInterrupt
                if out_of_time:
                    stopped_by = "time"
                    break
                # Where the run stands if this step does not finish (Ctrl-C): restored before saving.
                snapshot = (None if generator is None else generator.get_state(), torch.get_rng_state(),
                            batches.state_dict() if hasattr(batches, "state_dict") else None)
                t0 = time.perf_counter()
                batch = next(batches)
                optimizer.zero_grad(set_to_none=True)
                terms = run_step(batch)
                total = terms["total"]
                finite = bool(torch.isfinite(total.detach()).all())
                if shared:
                    finite = not distributed.any_rank(not finite)[0]
                if not finite:
                    undo_unfinished_step()
                    kept = ""
                    if step > start_step:  # the weights of the last good step (the bad step was not applied)
                        save(step)
                        kept = f" (checkpoint of step {step} kept)"
                    first = " at the first step: check the loss weights and" if step == start_step else ";"
                    became = "not finite on one of the ranks" if shared else float(total.detach())
                    raise OptionError(f"The training loss became {became} at step {step + 1}{first} try a "
                                      f"smaller learning rate (--lr){kept}.")
                total.backward()  # with other ranks: the gradients are averaged over them here
                with update_guard():
                    optimizer.step()
                    step += 1
                    snapshot = None
                dt = time.perf_counter() - t0
                # The first step pays one-off costs (allocations, kernel selection): let later steps dominate.
                step_time = dt if step_time is None else 0.8 * step_time + 0.2 * dt
                losses = {k: float(v.detach()) for k, v in terms.items()}
                if shared:  # the whole batch's losses (each rank's are the means over its equal share)
                    losses = dict(zip(losses, distributed.mean_over_ranks(list(losses.values()))))
                history.append(losses["total"])
                image = None
                if preview_fn is not None and preview_every and step % preview_every == 0:
                    was_training = model.training
                    model.eval()
                    with torch.no_grad():
                        image = preview_fn().detach()
                    model.train(was_training)
                emit(callback, Progress(stage=stage_name, iteration=step, total_iterations=total_planned(),
                                        losses=losses, elapsed=time.perf_counter() - start, eta=eta(),
                                        image=image))
                if checkpoint_every and step % checkpoint_every == 0:
                    save(step)
    except KeyboardInterrupt:
        undo_unfinished_step()
        save(step)
        seconds = time.perf_counter() - start
        result = TrainResult(step, step - start_step, seconds, earlier_seconds + seconds, losses, "interrupt",
                             history)
        where = f"; checkpoint saved to '{path}' (continue with --resume)" if path else ""
        raise Interrupted(f"Training interrupted at step {step}{where}.", partial=result) from None
    finally:
        # The DDP wrapper goes before the process group does (distributed.process_group's exit): kept alive
        # by an Interrupted's traceback (this frame), it released gloo's buffers after the group was
        # destroyed, and that teardown hung a rank once. gc: DDP's hooks make reference cycles.
        run_step = terms = total = None
        if shared:
            gc.collect()
    seconds = time.perf_counter() - start
    if step > start_step or not (path and path.is_file()):
        save(step)
    emit(callback, Done(iterations=step, elapsed=seconds, losses=losses))
    if step > start_step and main:
        logger.info("Trained %d steps in %.1f s (%.3f s/step).", step - start_step, seconds,
                    seconds / (step - start_step))
    return TrainResult(step, step - start_step, seconds, earlier_seconds + seconds, losses, stopped_by, history)
