"""Region masks of the photo (``--mask``) and of the paintings (``--style-mask``): checked against their image
once, as (1,1,H,W) weights in [0,1]."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import OptionError


def fit_masks(masks: Sequence[torch.Tensor] | None, content_hw) -> list[torch.Tensor] | None:
    """Masks (1,1|3,h,w) -> (1,1,h,w) in [0,1]; each must have the content's aspect ratio (2 % slack)."""
    if masks is None:
        return None
    ch, cw = content_hw
    out = []
    for i, m in enumerate(masks):
        mh, mw = m.shape[-2:]
        if abs(mh / mw - ch / cw) > 0.02 * (ch / cw):
            raise OptionError(f"Mask {i + 1} is {mw}x{mh} but the content image is {cw}x{ch}; a mask must have "
                              "the content's aspect ratio.")
        # A mask may come as RGB; its mean over channels is the region weight in [0,1].
        out.append(m.mean(dim=1, keepdim=True).clamp(0, 1) if m.shape[1] != 1 else m.clamp(0, 1))
    return out


def fit_style_masks(masks: Sequence[torch.Tensor | None], style_hws) -> list[torch.Tensor | None]:
    """Style masks (1,1|3,h,w), one per painting (None: the whole painting) -> (1,1,H,W) in [0,1] at that
    painting's size (``--style-mask``, Gatys et al. 2017 §4: the painting's statistics over that region
    only). Each must have its painting's aspect ratio (2 % slack) and keep some weight once resized to it:
    an empty region has no statistics to take."""
    out = []
    for i, (m, hw) in enumerate(zip(masks, style_hws)):
        if m is None:
            out.append(None)
            continue
        (fitted,) = fit_masks([m], hw) if _same_ratio(m, hw) else _wrong_ratio(i, m, hw)
        fitted = F.interpolate(fitted.float(), size=tuple(hw), mode="area") if m.shape[-2:] != tuple(hw) else fitted
        if float(fitted.sum()) < 1.0:  # less than one pixel's worth of region
            raise OptionError(f"Style mask {i + 1} is empty once fitted to its painting ({hw[1]}x{hw[0]}): paint "
                              "the region to take the painting's style from in white.")
        out.append(fitted)
    return out


def _same_ratio(m: torch.Tensor, hw) -> bool:
    mh, mw = m.shape[-2:]
    return abs(mh / mw - hw[0] / hw[1]) <= 0.02 * (hw[0] / hw[1])


def _wrong_ratio(i: int, m: torch.Tensor, hw):
    raise OptionError(f"Style mask {i + 1} is {m.shape[-1]}x{m.shape[-2]} but its painting is {hw[1]}x{hw[0]}; a "
                      "style mask must have its painting's aspect ratio.")


def keep_outside(result: torch.Tensor, photo: torch.Tensor, masks: Sequence[torch.Tensor] | None) -> torch.Tensor:
    """``result`` (1,3,H,W) where the masks cover the photo, the ``photo`` (same size) where none does: the
    spatial control of methods that stylise the whole image at once (masks resized to the result)."""
    if not masks:
        return result
    hw = tuple(result.shape[-2:])
    cover = torch.stack([F.interpolate(m.float(), size=hw, mode="bilinear", align_corners=False) for m in masks])
    keep = (1 - cover.sum(0)).clamp(0, 1)
    return keep * photo + (1 - keep) * result
