"""Progress events: the engine emits them, front ends (CLI bar, web stream, ``--save-every``) listen.

The library never prints: a callback ``callback(event)`` receives :class:`Stage`, :class:`Progress` and
:class:`Done` objects. ``Progress.image`` is a detached view of the current image (B,3,H,W) in [0,1];
clone it if you keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Stage:
    """A new stage starts (e.g. one scale of a coarse-to-fine optimisation)."""

    name: str
    index: int  # 0-based
    total: int
    size: tuple[int, int]  # (H, W) worked on in this stage
    iterations: int  # planned iterations of this stage


@dataclass(frozen=True)
class Progress:
    """One optimisation step (or training step) finished."""

    stage: str
    iteration: int  # 1-based, counted over the whole run
    total_iterations: int  # planned (stages may stop early)
    losses: dict[str, float]
    elapsed: float  # seconds since the run started
    eta: float | None  # seconds left, estimated from the work (pixels x iterations) still planned
    image: torch.Tensor | None = field(default=None, repr=False)
    rate: float | None = None  # items per second where that is the natural unit (video: frames per second)

    @property
    def fraction(self) -> float:
        return min(1.0, self.iteration / max(1, self.total_iterations))


@dataclass(frozen=True)
class Done:
    iterations: int
    elapsed: float
    losses: dict[str, float]


Event = Stage | Progress | Done
Callback = Callable[[Event], None]


def emit(callback: Callback | None, event: Event) -> None:
    if callback is not None:
        callback(event)
