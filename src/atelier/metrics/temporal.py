"""Temporal consistency of a stylised video: the warping error of Lai et al. 2018.

Lai, Huang, Wang, Shechtman, Yumer & Yang 2018, "Learning Blind Video Temporal Consistency", §5 (E_warp):
for consecutive frames t-1, t of the output O, with the optical flow computed on the *input* frames I,

    O^_{t-1}(x) = O_{t-1}(x + b(x))                  b = flow I_t -> I_{t-1} (backward), warp()
    M_t(x)      = 1 unless x is occluded or x + b(x) leaves the frame                 occlusion_mask()
    E_pair      = sum_x M_t(x) ||O_t(x) - O^_{t-1}(x)||^2 / sum_x M_t(x)   (squared L2 over R,G,B)
    E_warp      = mean over the T-1 pairs of E_pair

Occlusion: the forward-backward consistency check of Ruder, Dosovitskiy & Brox 2016 ("Artistic style
transfer for videos", §3.3), used by Lai et al.: with f = flow I_{t-1} -> I_t sampled at the end point,
x is occluded where |b(x) + f(x + b(x))|^2 > 0.01 (|b(x)|^2 + |f(x + b(x))|^2) + 0.5.

Flows are (H,W,2) in pixels, (dx, dy), OpenCV's convention: a(x) ~ b_img(x + flow(x)) for flow a -> b.
The default flow is OpenCV's DIS (Kroeger et al. 2016), an optional dependency (the ``video`` extra).
Flow, warping and the occlusion check live in :mod:`atelier.video.flow` (the video pipeline uses them too).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ..errors import OptionError
from ..io import load_image, resize

# One copy of the flow code, shared with the video pipeline (atelier.video.flow imports no method).
from ..video.flow import FlowFn, as_flow, dis_flow, occlusion_mask, warp

__all__ = ["FlowFn", "dis_flow", "occlusion_mask", "warp", "warping_error"]

logger = logging.getLogger(__name__)


def _frames(frames) -> list[torch.Tensor]:
    # A (T,3,H,W) tensor or a sequence of anything load_image reads -> list of (1,3,H,W) float tensors.
    return [load_image(f) for f in frames]  # iterating a (T,3,H,W) tensor yields (3,H,W) frames


def warping_error(frames_out: Sequence, frames_in: Sequence, *, flow_fn: FlowFn | None = None) -> float:
    """Lai et al. 2018's warping error E_warp of ``frames_out`` given the input video ``frames_in``.

    Both are sequences of T >= 2 frames (paths, PIL images, arrays, (1,3,H,W) tensors, or one (T,3,H,W)
    tensor); input frames are resized to the output size if they differ. ``flow_fn(a, b)`` takes two
    (1,3,H,W) input frames and returns the (H,W,2) flow a -> b in pixels; default :func:`dis_flow`.
    Lower is more stable; 0 means every visible pixel follows the input's motion exactly.
    """
    outs, ins = _frames(frames_out), _frames(frames_in)
    if len(outs) != len(ins):
        raise OptionError(f"The output has {len(outs)} frames but the input has {len(ins)}.")
    if len(outs) < 2:
        raise OptionError("The warping error needs at least two frames.")
    flow_fn = dis_flow if flow_fn is None else flow_fn
    h, w = outs[0].shape[-2:]
    errors = []
    for t in range(1, len(outs)):
        i_prev, i_cur = resize(ins[t - 1], (h, w)), resize(ins[t], (h, w))
        backward = as_flow(flow_fn(i_cur, i_prev))  # (H,W,2): t -> t-1
        forward = as_flow(flow_fn(i_prev, i_cur))  # (H,W,2): t-1 -> t
        valid = ~occlusion_mask(backward, forward)  # (H,W)
        o_prev, o_cur = outs[t - 1], outs[t]
        if o_prev.shape != o_cur.shape:
            raise OptionError(f"Output frames differ in size: {tuple(o_prev.shape)} vs {tuple(o_cur.shape)}.")
        warped = warp(o_prev, backward)  # (1,3,H,W)
        sq = (o_cur - warped).pow(2).sum(1)[0]  # (H,W): squared L2 over RGB
        n = int(valid.sum())
        if n == 0:  # everything occluded (a scene cut): no pixel to compare, the pair does not count
            logger.warning("Frames %d and %d share no visible pixel; the pair is skipped.", t - 1, t)
            continue
        errors.append(float(sq[valid].sum()) / n)
    return sum(errors) / len(errors) if errors else float("nan")
