"""Optical flow between video frames, warping, and where the flow can be trusted.

Flows are (H,W,2) in pixels, (dx, dy), OpenCV's convention: a(x) ~ b(x + flow(x)) for the flow a -> b.
For frames t-1 and t we use the *backward* flow b (t -> t-1) to fetch frame t-1's values at frame t's
pixels (:func:`warp`), and the *forward* flow f (t-1 -> t) to check b (:func:`occlusion_mask`).

Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos" (GCPR), §3.3: a pixel of frame t has
no reliable counterpart in frame t-1 where

* the forward-backward check fails (disocclusion):  |b(x) + f(x + b(x))|^2 > 0.01 (|b|^2 + |f(x+b)|^2) + 0.5;
* it lies on a motion boundary:                     |grad b_x|^2 + |grad b_y|^2 > 0.01 |b|^2 + 0.002.

Their per-pixel weight c(x) is 0 there and 1 elsewhere (:func:`reliability`). We also set c = 0 where
x + b(x) leaves the frame (the border that moved in), which the paper's warping leaves undefined.

The flow itself is OpenCV's DIS (Kroeger et al. 2016, "Fast Optical Flow using Dense Inverse Search"),
an optional dependency (the ``video`` extra). This module imports only torch and numpy (OpenCV on first
use), so the judge (``atelier.metrics``) uses the same code without importing any method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OptionError

FlowFn = Callable[[torch.Tensor, torch.Tensor], "torch.Tensor | np.ndarray"]
PRESETS = ("ultrafast", "fast", "medium")


def as_flow(flow, device=None) -> torch.Tensor:
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
    fl = as_flow(flow, image.device).to(image.dtype)
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
    b, f = as_flow(backward), as_flow(forward)
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


def motion_boundaries(flow) -> torch.Tensor:
    """(H,W) bool, True on motion boundaries of ``flow`` (H,W,2) (Ruder et al. 2016 §3.3):
    |grad u|^2 + |grad v|^2 > 0.01 |flow|^2 + 0.002, gradients by central differences (one-sided at the
    border)."""
    fl = as_flow(flow)
    if fl.dim() != 3:
        raise ValueError(f"expected an (H,W,2) flow, got shape {tuple(fl.shape)}")
    grad_sq = fl.new_zeros(fl.shape[:2])
    for dim in (0, 1):
        if fl.shape[dim] > 1:
            g = torch.gradient(fl, dim=dim)[0]  # (H,W,2): d/dy or d/dx of (u, v)
            grad_sq = grad_sq + g.pow(2).sum(-1)
    return grad_sq > 0.01 * fl.pow(2).sum(-1) + 0.002


def reliability(backward, forward) -> torch.Tensor:
    """Ruder et al.'s per-pixel weight c (H,W) float32: 1 where frame t-1 warped by ``backward`` can be
    trusted at frame t's pixel, 0 at disocclusions, motion boundaries and pixels that came from outside."""
    return (~(occlusion_mask(backward, forward) | motion_boundaries(backward))).float()


def _gray(frame) -> np.ndarray:
    """(1,3,H,W) tensor in [0,1], or an (H,W,3) RGB / (H,W) gray uint8 array -> (H,W) uint8 gray."""
    import cv2

    if isinstance(frame, torch.Tensor):
        frame = (frame[0].detach().cpu().float().clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8)
        frame = frame.numpy()
    frame = np.ascontiguousarray(frame)
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _cv2():
    try:
        import cv2
    except ImportError:
        raise OptionError("Optical flow needs OpenCV: pip install 'atelier[video]'.") from None
    return cv2


def dis_flow(prev, next, *, preset: str = "medium") -> np.ndarray:
    """OpenCV DIS optical flow from ``prev`` to ``next`` -> (H,W,2) float32 in pixels.

    Frames are (1,3,H,W) tensors in [0,1] or uint8 arrays (H,W,3 RGB or H,W gray); DIS works on grayscale
    uint8. ``preset``: 'ultrafast', 'fast' or 'medium' (OpenCV's presets: speed against accuracy).
    """
    return FlowEstimator(preset=preset)(prev, next)


class FlowEstimator:
    """DIS flow, optionally computed at a reduced size for speed.

    ``max_side``: if the frames' long side exceeds it, the flow is computed on frames resized to that long
    side and then resized back (its vectors scaled by the same factor); 0 = full size.
    """

    def __init__(self, *, preset: str = "medium", max_side: int = 0):
        if preset not in PRESETS:
            raise OptionError(f"The flow preset must be one of {', '.join(PRESETS)}, not {preset!r}.")
        cv2 = _cv2()
        code = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]
        self.code, self.preset, self.max_side = code, preset, max_side

    def _calc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """DIS flow a -> b (h,w,2) from a new OpenCV object per pair (0.04 ms to make): a reused one keeps
        state from its previous pair and gives another flow for the same frames, so a resumed video (whose
        first pair has no predecessor) would not equal an uninterrupted run (measured on a 60x80 test pattern:
        the flow moved by up to 0.027 px and 1.1 % of the reliability mask flipped)."""
        return _cv2().DISOpticalFlow_create(self.code).calc(a, b, None)

    def _small(self, a: np.ndarray, b: np.ndarray):
        """Grey frames reduced to ``max_side`` (if larger) and the (sw/w, sh/h) factors."""
        cv2 = _cv2()
        if a.shape != b.shape:
            raise ValueError(f"frames differ in size: {a.shape} vs {b.shape}")
        h, w = a.shape
        scale = self.max_side / max(h, w) if self.max_side and max(h, w) > self.max_side else 1.0
        if scale == 1.0:
            return a, b, (1.0, 1.0)
        sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
        return (cv2.resize(a, (sw, sh), interpolation=cv2.INTER_AREA),
                cv2.resize(b, (sw, sh), interpolation=cv2.INTER_AREA), (sw / w, sh / h))

    @staticmethod
    def _full(flow: np.ndarray, hw: tuple[int, int], factors: tuple[float, float]) -> np.ndarray:
        """A flow of the reduced frames -> (H,W,2) at the frames' size, its vectors scaled back."""
        if factors == (1.0, 1.0):
            return flow
        cv2 = _cv2()
        full = cv2.resize(flow, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
        full[..., 0] /= factors[0]
        full[..., 1] /= factors[1]
        return full

    def __call__(self, prev, next) -> np.ndarray:
        a, b = _gray(prev), _gray(next)
        sa, sb, factors = self._small(a, b)
        return self._full(self._calc(sa, sb), a.shape, factors)  # (H,W,2) float32

    def backward_reliable(self, cur, prev) -> tuple[np.ndarray, np.ndarray]:
        """(backward flow t -> t-1 (H,W,2), reliability c (H,W) float32 in [0,1]) at the frames' size.

        With ``max_side`` the consistency check (:func:`reliability_array`) runs on the reduced flows too
        and c is resized bilinearly (soft at its edges): at 1280x720 and ``max_side`` 640 the two flows and
        the check take 13 ms instead of 40 (``benchmarks/video.py``, parts). Its thresholds stay in the reduced frames' pixels
        (0.5 px^2 there is 2 px^2 at full size): a slightly more lenient check on large frames.
        """
        cv2 = _cv2()
        a, b = _gray(cur), _gray(prev)
        sa, sb, factors = self._small(a, b)
        backward, forward = self._calc(sa, sb), self._calc(sb, sa)
        c = reliability_array(backward, forward)
        if factors != (1.0, 1.0):
            c = cv2.resize(c, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
        return self._full(backward, a.shape, factors), c

    def pair(self, prev, next) -> tuple[torch.Tensor, torch.Tensor]:
        """(backward next -> prev, forward prev -> next) flows as (H,W,2) float32 tensors."""
        return torch.from_numpy(self(next, prev)), torch.from_numpy(self(prev, next))


# ------------------------------------------------------------------ the same on (H,W,C) arrays, with OpenCV
# The video pipeline works on numpy frames at full video resolution, where OpenCV's remap is several times
# faster than grid_sample (1280x720: warp ~10 ms vs ~60 ms, consistency check ~30 ms vs ~400 ms on 2 cores).
# Same conventions and thresholds as the torch functions above (tests check they agree).


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs, ys


def remap(image: np.ndarray, flow: np.ndarray, *, cubic: bool = False) -> np.ndarray:
    """:func:`warp` for an (H,W) or (H,W,C) float32/uint8 array: out(x) = image(x + flow(x)), bilinear (or
    bicubic, clipped to the input's range), border values outside the frame."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    out = cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return np.clip(out, image.min(), image.max()) if cubic else out


def reliability_array(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """:func:`reliability` for (H,W,2) float32 arrays -> (H,W) float32 in {0, 1}."""
    cv2 = _cv2()
    b = np.ascontiguousarray(backward, dtype=np.float32)
    f = np.ascontiguousarray(forward, dtype=np.float32)
    h, w = b.shape[:2]
    xs, ys = _grid(h, w)
    px, py = xs + b[..., 0], ys + b[..., 1]  # where each pixel of t comes from in t-1
    f_at = cv2.remap(f, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # f(x + b(x))
    b_sq = cv2.magnitude(b[..., 0], b[..., 1]) ** 2
    bad = cv2.magnitude(b[..., 0] + f_at[..., 0], b[..., 1] + f_at[..., 1]) ** 2 > (
        0.01 * (b_sq + cv2.magnitude(f_at[..., 0], f_at[..., 1]) ** 2) + 0.5)  # forward-backward check
    bad |= (px < 0) | (px > w - 1) | (py < 0) | (py > h - 1)  # came from outside the frame
    # Motion boundaries: central differences (Sobel with ksize=1 is [-1, 0, 1], so halve it); at the
    # border OpenCV reflects where torch.gradient takes one-sided differences.
    grad_sq = np.zeros((h, w), np.float32)
    for c in (b[..., 0], b[..., 1]):
        for dx, dy in ((1, 0), (0, 1)):
            g = cv2.Sobel(c, cv2.CV_32F, dx, dy, ksize=1, scale=0.5)
            grad_sq += g * g
    bad |= grad_sq > 0.01 * b_sq + 0.002
    return (~bad).astype(np.float32)
