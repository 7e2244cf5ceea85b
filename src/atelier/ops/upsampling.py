"""Detail upsampling: bring a result computed at a low resolution up to the full size, and give it back the
fine detail of the full-size photo that the low resolution could not hold.

    out = up(p) + luma(I - up(I_low))

p (h,w,3) is the stylised result at the low (work) resolution, I_low the photo it was made from, I the photo
at the output size, ``up`` bicubic. The second term is the photo's band of detail finer than the work size
(a Laplacian-pyramid band, Burt & Adelson 1983), added as luminance so that the photo's colours do not leak
into a painting's palette. It is the "upsampling of the stylised residual" (p - I_low) guided by the
full-size photo: up(p - I_low) + I, rearranged.

Why not a guided filter (He, Sun & Tang 2013; He & Sun 2015's fast guided upsampling), fitting p as a local
affine function of the photo: it explains p by the photo's structure and averages away what the photo does
not explain, which in style transfer are the strokes. Measured on a 1280x720 frame with the johnson
starry_night model from 640- and 480-px work sizes (benchmarks/upsampling.py, benchmarks/results/
upsampling.md): the guided filter raised the style distance (style_swd) by 27-114 % over plain bicubic
upsampling at every radius (1, 2, 4) and regularisation (1e-2 ... 1e-5) tried, while the detail band kept
it (0.2143 against 0.2176 at 480) and raised SSIM to the photo (0.503 against 0.483).

On (H,W,3) float32 arrays through OpenCV (single-threaded SIMD resizes that leave the cores to the network:
the video pipeline); :func:`detail_upsample_tensor` wraps it for (1,3,H,W) tensors on any device.
"""

from __future__ import annotations

import numpy as np
import torch

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601 weights of R, G, B


def detail_upsample(p: np.ndarray, photo_low: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """p (h,w,3) made from photo_low (h,w,3); photo (H,W,3) at the output size; float32 in [0,1].
    Returns (H,W,3) float32 in [0,1]."""
    import cv2

    h, w = photo.shape[:2]

    def up(x):
        return cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)

    f32 = np.float32
    detail = cv2.subtract(photo.astype(f32, copy=False), up(photo_low.astype(f32, copy=False)))  # (H,W,3)
    band = cv2.transform(detail, LUMA[None])  # (H,W) luminance of the detail band
    out = up(p.astype(f32, copy=False))
    out += band[..., None]
    return np.clip(out, 0.0, 1.0, out=out)


def detail_upsample_tensor(p: torch.Tensor, photo_low: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """:func:`detail_upsample` for (1,3,h,w), (1,3,h,w) and (1,3,H,W) tensors; (1,3,H,W) on p's device."""

    def arr(t):
        return np.ascontiguousarray(t[0].detach().float().permute(1, 2, 0).cpu().numpy())

    q = detail_upsample(arr(p), arr(photo_low), arr(photo))
    return torch.from_numpy(q).permute(2, 0, 1)[None].to(p.device)
