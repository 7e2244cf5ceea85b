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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OptionError
from ..io import load_image, resize

logger = logging.getLogger(__name__)

FlowFn = Callable[[torch.Tensor, torch.Tensor], "torch.Tensor | np.ndarray"]


def _as_flow(flow, device=None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(flow) if not isinstance(flow, torch.Tensor) else flow).float()
    if t.dim() not in (3, 4) or t.shape[-1] != 2:
        raise ValueError(f"a flow must be (H,W,2) or (B,H,W,2), got shape {tuple(t.shape)}")
    return t if device is None else t.to(device)


def warp(image: torch.Tensor, flow) -> torch.Tensor:
    """Backward-warp ``image`` (B,C,H,W) by ``flow`` (H,W,2) or (B,H,W,2), in pixels (dx, dy).

    out(x) = image(x + flow(x)), bilinear; samples outside the frame take the nearest border value (mask
    them with :func:`occlusion_mask`). Pixel centres are at integer coordinates (align_corners=True).
    """
    if image.dim() != 4:
        raise ValueError(f"warp expects (B,C,H,W), got shape {tuple(image.shape)}")
    b, _, h, w = image.shape
    fl = _as_flow(flow, image.device).to(image.dtype)
    if fl.shape[-3:-1] != (h, w):
        raise ValueError(f"flow size {tuple(fl.shape[-3:-1])} does not match image size {(h, w)}")
    ys, xs = torch.meshgrid(
        torch.arange(h, device=image.device, dtype=image.dtype),
        torch.arange(w, device=image.device, dtype=image.dtype),
        indexing="ij",
    )
    px = xs + fl[..., 0]  # (H,W) or (B,H,W): sampling positions in pixels
    py = ys + fl[..., 1]
    grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], dim=-1)
    grid = grid.expand(b, h, w, 2) if grid.dim() == 3 else grid  # (B,H,W,2) in [-1,1]
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def occlusion_mask(backward, forward) -> torch.Tensor:
    """(H,W) bool, True where frame t's pixel has no reliable match in frame t-1.

    ``backward`` b: flow t -> t-1, ``forward`` f: flow t-1 -> t, both (H,W,2) in pixels. True where the
    forward-backward check fails (Ruder et al. 2016 §3.3; Lai et al. 2018 §5):
    |b(x) + f(x + b(x))|^2 > 0.01 (|b(x)|^2 + |f(x + b(x))|^2) + 0.5, or where x + b(x) lies outside the
    frame (no pixel of t-1 to compare with: the border that moved in).
    """
    b, f = _as_flow(backward), _as_flow(forward)
    if b.dim() != 3 or b.shape != f.shape:
        raise ValueError(f"expected two (H,W,2) flows of one size, got {tuple(b.shape)}, {tuple(f.shape)}")
    h, w = b.shape[:2]
    f_at = warp(f.permute(2, 0, 1)[None], b)[0].permute(1, 2, 0)  # f(x + b(x)), (H,W,2)
    diff = (b + f_at).pow(2).sum(-1)
    occluded = diff > 0.01 * (b.pow(2).sum(-1) + f_at.pow(2).sum(-1)) + 0.5
    ys, xs = torch.meshgrid(torch.arange(h, dtype=b.dtype), torch.arange(w, dtype=b.dtype), indexing="ij")
    px, py = xs + b[..., 0], ys + b[..., 1]
    outside = (px < 0) | (px > w - 1) | (py < 0) | (py > h - 1)
    return occluded | outside


def dis_flow(prev: torch.Tensor, next: torch.Tensor) -> np.ndarray:
    """OpenCV DIS optical flow (preset MEDIUM) from ``prev`` to ``next``, (1,3,H,W) in [0,1] -> (H,W,2).

    Computed on grayscale uint8, as DIS expects. Needs the optional OpenCV (``atelier[video]``).
    """
    try:
        import cv2
    except ImportError:
        raise OptionError(
            "The warping error's optical flow needs OpenCV: pip install 'atelier[video]'."
        ) from None

    def gray(t: torch.Tensor) -> np.ndarray:
        rgb = (t[0].detach().cpu().float().clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8)
        return cv2.cvtColor(np.ascontiguousarray(rgb.numpy()), cv2.COLOR_RGB2GRAY)  # (H,W) uint8

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray(prev), gray(next), None)  # (H,W,2) float32


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
        backward = _as_flow(flow_fn(i_cur, i_prev))  # (H,W,2): t -> t-1
        forward = _as_flow(flow_fn(i_prev, i_cur))  # (H,W,2): t-1 -> t
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
