"""Region masks of the photo: checked against the content once, as (1,1,H,W) weights in [0,1]."""

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


def keep_outside(result: torch.Tensor, photo: torch.Tensor, masks: Sequence[torch.Tensor] | None) -> torch.Tensor:
    """``result`` (1,3,H,W) where the masks cover the photo, the ``photo`` (same size) where none does: the
    spatial control of methods that stylise the whole image at once (masks resized to the result)."""
    if not masks:
        return result
    hw = tuple(result.shape[-2:])
    cover = torch.stack([F.interpolate(m.float(), size=hw, mode="bilinear", align_corners=False) for m in masks])
    keep = (1 - cover.sum(0)).clamp(0, 1)
    return keep * photo + (1 - keep) * result
