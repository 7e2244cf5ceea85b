"""``--work-size PX``: the method sees the photo at most PX pixels on its long side, and its result is brought
up to the output size with the photo's own fine detail added back (:mod:`atelier.ops.upsampling`). The
network's (or the optimisation's) cost then no longer grows with the output size: at 1280x720 from a 480-px
work size it does 1/7 of the pixels, and the upsampling costs a few milliseconds.

What the output keeps from each: the strokes, colours and textures at the scale of the work size, and the
edges and fine detail of the full-size photo. So the look is that of stylising a PX-pixel photo, shown sharp
at the full size: strokes do not get finer with the output size, as they do when the full size is stylised.

A run option, as ``--refine`` is: declared once here (:class:`WorkSizeOptions`, for the CLI and the web
form), checked by :func:`atelier.api.prepare`, applied by :func:`atelier.api.run` and the video pipeline.
Torch-free at import (the CLI's --help reads the declaration).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from .options import Config, option

HELP = ("Run the method at most at this long side and bring the result up to the output size with the "
        "full-size photo's fine detail (much faster for large outputs and videos; strokes keep the work size's "
        "scale); 0 = off, the method runs at the output size.")

# The long side the method runs at in a video unless --work-size says otherwise (0: the output's size):
# chosen from benchmarks/video.py's work-size table (style distance and warping error against the full-size
# pipeline, frames per second at 1280x720).
VIDEO_WORK_SIZE = 480


@dataclass
class WorkSizeOptions(Config):
    """The run option ``work_size`` as a declared field: the CLI's and the web form's entry."""

    HELP: ClassVar[str] = HELP
    VIDEO: ClassVar[int] = VIDEO_WORK_SIZE  # the default of videos
    work_size: int = option(0, HELP, minimum=16, zero="off", metavar="PX")


def has_size(config) -> bool:
    """Whether the method's config has an output ``size`` (long side, 0 = the content's own size)."""
    return any(f.name == "size" for f in dataclasses.fields(config))


def output_hw(config, content_hw) -> tuple[int, int]:
    """(H, W) the method makes from a content of ``content_hw``: its ``size`` as the long side, or the
    content's own size for 0 (the rule every built-in method's ``size`` follows)."""
    from .io import fit_size

    h, w = int(content_hw[0]), int(content_hw[1])
    return (h, w) if config.size == 0 else fit_size(h, w, config.size)


@dataclass(frozen=True)
class WorkPlan:
    """Where a run with ``--work-size`` works: the output's (H,W), the work (h,w), and the method's config at
    the work size (its ``size`` replaced, every other field kept)."""

    out_hw: tuple[int, int]
    work_hw: tuple[int, int]
    config: object

    def info(self) -> dict:
        """What the sidecar records."""
        return {"work": [self.work_hw[1], self.work_hw[0]], "output": [self.out_hw[1], self.out_hw[0]],
                "upsampling": "bicubic, with the full-size photo's detail band added as luminance"}


def plan(config, content_hw, work_size: int) -> WorkPlan | None:
    """The plan of a run at ``work_size``, or None when there is nothing to gain (off, or the output is no
    larger than the work size: the method then runs at the output size as without the option)."""
    if not work_size:
        return None
    from .io import fit_size

    out_hw = output_hw(config, content_hw)
    if max(out_hw) <= work_size:
        return None
    work_hw = fit_size(*out_hw, work_size)
    return WorkPlan(out_hw, work_hw, dataclasses.replace(config, size=work_size))


def upsample(low, photo_low, content, out_hw):
    """The method's (1,3,h,w) result at the work size, made from ``photo_low`` (1,3,h,w) -> (1,3,H,W) at
    ``out_hw``, with the detail of ``content`` (1,3,*,*, resized to the output size here)."""
    from . import io
    from .ops.upsampling import detail_upsample_tensor

    return detail_upsample_tensor(low, photo_low, io.resize(content, tuple(out_hw)))
