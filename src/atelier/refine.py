"""``--refine N``: a one-pass result as the starting image of N Gatys iterations (issue: a fast path to the
optimisation's quality).

The one-pass methods that take the painting (adain, sanet, wct) give the painting's palette and texture in a fraction of a second but sit
farther from the painting's statistics than Gatys et al.'s optimisation; the optimisation from the photo
needs its coarse-to-fine schedule to get there. Started from the one-pass result instead, a few iterations at
the output size move it the rest of the way. The starting image goes in as a ``TemporalGuide`` of weight 0:
the video pipeline's "start from this image where it can be trusted" (trusted everywhere here), without the
temporal term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .options import Config, option

if TYPE_CHECKING:
    import torch

HELP = ("Continue the one-pass result with N Gatys iterations at the output size (one-pass methods that take "
        "the painting, e.g. adain): closer to the painting, seconds instead of minutes; 0 = off.")


@dataclass
class RefineOptions(Config):
    """The run option ``refine`` as a declared field: the web form's entry (the CLI's --refine says HELP)."""

    HELP: ClassVar[str] = HELP
    refine: int = option(0, HELP, "Gatys 2016 §3 (from a one-pass start)", minimum=0, zero="off", basic=True)


def refinable(caps) -> bool:
    """A one-pass method that takes the painting: gatys is the refinement itself (it makes snapshots), and
    johnson's painting is inside its model, not an input the iterations could use."""
    return caps.needs_style and not caps.snapshots


def refine(image: torch.Tensor, content: torch.Tensor, styles: list[torch.Tensor], masks, config, iterations: int,
           *, generator, callback, protect=None, style_masks=None) -> tuple[torch.Tensor, dict]:
    """``iterations`` Gatys steps at ``image``'s size (one scale), from ``image`` (1,3,H,W), with the
    one-pass config's colour control, style weights and VGG weights (and the run's masks, style masks and
    protection). Returns the image and its info."""
    import torch  # here: the CLI and the web read this module's option without importing torch

    from .events import Stage, emit
    from .methods import TemporalGuide, get_method, make_config, method_spec

    h, w = image.shape[-2:]
    options = {"size": max(h, w), "min_size": max(h, w), "iterations": iterations, "tolerance": 0.0}
    for name in ("preserve_color", "style_weights", "weights"):  # what the two configs share
        if getattr(config, name, None) is not None:
            options[name] = getattr(config, name)
    gatys_config = make_config(method_spec("gatys").config_class, options)
    gatys = get_method("gatys")(gatys_config)
    emit(callback, Stage("refine", 0, 1, (h, w), iterations))
    guide = TemporalGuide(previous=image, reliability=torch.ones_like(image[:, :1]), weight=0.0)
    out = gatys.stylize(content, styles, config=gatys_config, generator=generator, callback=callback,
                        masks=masks, temporal=guide, protect=protect, style_masks=style_masks)
    return out, {"iterations": gatys.info.get("iterations"), "seconds": gatys.info.get("seconds"),
                 "losses": gatys.info.get("losses")}
