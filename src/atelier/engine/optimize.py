"""Image optimiser: minimise a loss over the pixels of an image with L-BFGS or Adam, emitting events.

The engine knows nothing of VGG, styles, terminals or HTTP: it gets a parameter tensor, a ``render``
function from parameter to image and a ``loss_fn`` from image to named terms (with ``"total"``), and it
reports every step through the callback. Coarse-to-fine schedules call :func:`optimize_image` once per
scale and share one :class:`RunClock` so the iteration count and ETA run over the whole job.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..events import Callback, Progress, Stage, emit

logger = logging.getLogger(__name__)


@dataclass
class RunClock:
    """Shared progress accounting over the stages of one run; work = pixels x iterations."""

    stages: list[tuple[int, int]]  # planned (pixels, iterations) per stage
    start: float = field(default_factory=time.perf_counter)
    iteration: int = 0  # global iterations done
    work_done: float = 0.0
    work_skipped: float = 0.0  # work planned but not needed (stages that stopped early)
    iterations_skipped: int = 0

    @property
    def total_iterations(self) -> int:
        return sum(it for _, it in self.stages) - self.iterations_skipped

    @property
    def total_work(self) -> float:
        return float(sum(px * it for px, it in self.stages)) - self.work_skipped

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def eta(self) -> float | None:
        if self.work_done <= 0:
            return None
        return self.elapsed() / self.work_done * max(0.0, self.total_work - self.work_done)

    def advance(self, callback: Callback | None, stage: str, work: float, losses: dict[str, float] | None = None,
                image: torch.Tensor | None = None, iterations: int = 1) -> None:
        """Count ``iterations`` steps worth ``work`` (in the units of ``stages``) and emit their Progress:
        for methods that are not pixel optimisers (patch synthesis, matching passes)."""
        self.iteration += iterations
        self.work_done += work
        emit(callback, Progress(stage=stage, iteration=self.iteration, total_iterations=self.total_iterations,
                                losses=losses or {}, elapsed=self.elapsed(), eta=self.eta(), image=image))


@dataclass
class StageResult:
    image: torch.Tensor  # (B,3,H,W), detached, rendered
    losses: dict[str, float]
    iterations: int
    stopped_early: bool
    interrupted: bool
    history: list[float]  # total loss per iteration


def lbfgs_history(numel: int) -> int:
    """The L-BFGS history size for a parameter of ``numel`` values (memory estimates use it too).

    L-BFGS keeps 2 vectors of the image's size per history entry: their memory is capped at ~1 GiB so a 4K
    image does not pay 10+ GiB for curvature pairs (the usual default of 100 is meant for small images)."""
    return int(max(5, min(50, (1 << 30) // (8 * numel))))


def optimize_image(
    param: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    *,
    iterations: int,
    render: Callable[[torch.Tensor], torch.Tensor] = lambda p: p,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    tolerance: float = 0.0,
    window: int = 20,
    min_iterations: int = 0,
    clock: RunClock | None = None,
    stage: Stage | None = None,
    callback: Callback | None = None,
) -> StageResult:
    """Optimise ``param`` (B,3,H,W, values kept in [0,1]) to minimise ``loss_fn(render(param))["total"]``.

    Stops after ``iterations`` steps, or earlier when the total loss improved by less than ``tolerance``
    (relative) over the last ``window`` steps (after ``min_iterations``), or on Ctrl-C (``interrupted``).
    """
    param = param.detach().clone().requires_grad_(True)
    clock = clock or RunClock([(param[0, 0].numel(), iterations)])
    pixels = param[0, 0].numel()
    if stage is not None:
        emit(callback, stage)
    if optimizer == "lbfgs":
        # One L-BFGS iteration per step() with max_iter=1 (one loss evaluation); tolerances disabled
        # because our own stopping rule decides, and intensive losses have tiny absolute gradients.
        opt = torch.optim.LBFGS(
            [param], lr=lr or 1.0, max_iter=1, history_size=lbfgs_history(param.numel()),
            tolerance_grad=-1.0, tolerance_change=-1.0,
        )
    elif optimizer == "adam":
        opt = torch.optim.Adam([param], lr=lr or 0.02)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")

    history: list[float] = []
    last: dict[str, torch.Tensor] = {}
    good = param.detach().clone()
    good_terms: dict[str, torch.Tensor] = {}
    stopped_early = interrupted = False
    done = 0

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        terms = loss_fn(render(param))
        terms["total"].backward()
        with torch.no_grad():
            # Projected gradient: drop components pushing a pixel already at a bound further out, so the
            # clamp after the step does not corrupt L-BFGS's curvature pairs (a box-constrained step).
            g = param.grad
            g[((param <= 0) & (g > 0)) | ((param >= 1) & (g < 0))] = 0
        last.clear()
        last.update({k: v.detach() for k, v in terms.items()})
        return terms["total"]

    try:
        for _ in range(iterations):
            opt.step(closure)
            with torch.no_grad():
                param.clamp_(0, 1)  # box constraint of the pixel values, applied after each step
            total = float(last["total"])
            if not math.isfinite(total) or not bool(torch.isfinite(param).all()):
                # A diverged step (rare with L-BFGS on sharp losses): keep the last good image and stop.
                logger.warning("The loss or the pixels became non-finite; keeping the last good image of this stage.")
                with torch.no_grad():
                    param.copy_(good)
                last.clear()
                last.update(good_terms)
                stopped_early = True
                break
            good.copy_(param.detach())
            good_terms = dict(last)
            done += 1
            history.append(total)
            clock.iteration += 1
            clock.work_done += pixels
            emit(callback, Progress(
                stage=stage.name if stage else "optimize",
                iteration=clock.iteration,
                total_iterations=clock.total_iterations,
                losses={k: float(v) for k, v in last.items()},
                elapsed=clock.elapsed(),
                eta=clock.eta(),
                image=render(param).detach(),
            ))
            if tolerance > 0 and done >= max(window, min_iterations) + 1:
                ref = history[-window - 1]
                if (ref - total) / max(abs(ref), 1e-12) < tolerance:
                    stopped_early = True
                    break
    except KeyboardInterrupt:
        interrupted = True

    if done < iterations:
        clock.work_skipped += pixels * (iterations - done)
        clock.iterations_skipped += iterations - done
    with torch.no_grad():
        image = render(param).detach().clamp(0, 1)
    return StageResult(
        image=image,
        losses={k: float(v) for k, v in last.items()},
        iterations=done,
        stopped_early=stopped_early,
        interrupted=interrupted,
        history=history,
    )
