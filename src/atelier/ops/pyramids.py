"""Gaussian blur, Gaussian and Laplacian pyramids (Burt & Adelson 1983) of (B,C,H,W) images.

Shared by the classical methods (Hertzmann's and Efros–Leung's multi-resolution synthesis, the multi-scale
transfers of Elad & Milanfar 2017, quilting's blurred correspondence map). The complex steerable pyramid
of Portilla & Simoncelli is in ``ops/steerable.py``.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, *, radius: int | None = None, device=None,
                    dtype=torch.float32) -> torch.Tensor:
    """A normalised 1-D Gaussian (2r+1,), r = ceil(3 sigma) unless given."""
    r = math.ceil(3 * sigma) if radius is None else radius
    x = torch.arange(-r, r + 1, device=device, dtype=dtype)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_window(size: int, sigma: float, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """A (size, size) 2-D Gaussian that sums to 1, centred (between pixels for an even size)."""
    r = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B,C,H,W), reflected at the borders; sigma <= 0 returns the image."""
    if sigma <= 0:
        return image
    g = gaussian_kernel(sigma, device=image.device, dtype=image.dtype)
    r = (len(g) - 1) // 2
    c = image.shape[1]
    mode = "reflect" if min(image.shape[-2:]) > r else "replicate"
    x = F.pad(image, (r, r, 0, 0), mode=mode)
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, (0, 0, r, r), mode=mode)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def downsample(image: torch.Tensor) -> torch.Tensor:
    """Blur (sigma 1) then halve, rounding sizes up: one level of a Gaussian pyramid."""
    h, w = image.shape[-2:]
    return F.interpolate(blur(image, 1.0), size=((h + 1) // 2, (w + 1) // 2), mode="bilinear",
                         align_corners=False)


def upsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False)


def gaussian_pyramid(image: torch.Tensor, levels: int, min_size: int = 8) -> list[torch.Tensor]:
    """[image, image/2, ...]: at most ``levels`` images, finest first, none with a side under ``min_size``."""
    out = [image]
    while len(out) < levels and min(out[-1].shape[-2:]) >= 2 * min_size:
        out.append(downsample(out[-1]))
    return out


def laplacian_pyramid(image: torch.Tensor, levels: int, min_size: int = 8) -> list[torch.Tensor]:
    """Band-pass images, finest first, then the coarsest Gaussian level: ``reconstruct`` inverts it exactly."""
    gauss = gaussian_pyramid(image, levels, min_size)
    bands = [g - upsample(g_next, g.shape[-2:]) for g, g_next in itertools.pairwise(gauss)]
    return [*bands, gauss[-1]]


def reconstruct(pyramid: list[torch.Tensor]) -> torch.Tensor:
    """The image a ``laplacian_pyramid`` came from."""
    image = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        image = band + upsample(image, band.shape[-2:])
    return image


# -------------------------------------------------------------------------------------------------------
# Added for Elad & Milanfar 2017's denoising step: an edge-preserving smoothing.


def domain_transform(image: torch.Tensor, sigma_s: float, sigma_r: float, iterations: int = 3) -> torch.Tensor:
    """Edge-preserving smoothing of (B,C,H,W): the domain transform's normalised-convolution filter (Gastal &
    Oliveira 2011, "Domain Transform for Edge-Aware Image and Video Processing", §4-5).

    Each row (then column) is mapped to the line t(x) = x + sigma_s / sigma_r * sum_c |I_c(x) - I_c(x-1)| (eq.
    11, the L1 norm over channels), where a box of radius sqrt(3) sigma_i is averaged (cumulative sums and
    ``searchsorted``); ``iterations`` alternating passes with sigma_i halving (eq. 14). ``sigma_s`` in
    pixels, ``sigma_r`` in image units; sigma_s <= 0 returns the image."""
    if sigma_s <= 0:
        return image
    ratio = sigma_s / sigma_r
    # Domain coordinates along x (B,H,W) and along y, transposed (B,W,H); the guide is the input itself.
    ct_x = F.pad((1 + ratio * (image[..., 1:] - image[..., :-1]).abs().sum(1)).cumsum(-1), (1, 0))
    ct_y = F.pad((1 + ratio * (image[..., 1:, :] - image[..., :-1, :]).abs().sum(1)).cumsum(-2), (0, 0, 1, 0))
    ct_y = ct_y.transpose(-1, -2).contiguous()
    out = image
    for i in range(iterations):
        sigma_i = sigma_s * math.sqrt(3) * 2 ** (iterations - i - 1) / math.sqrt(4**iterations - 1)
        radius = math.sqrt(3) * sigma_i
        out = _box_along_rows(out, ct_x, radius)
        out = _box_along_rows(out.transpose(-1, -2), ct_y, radius).transpose(-1, -2)
    return out.contiguous()


def _box_along_rows(x: torch.Tensor, ct: torch.Tensor, radius: float) -> torch.Tensor:
    """Mean of x (B,C,H,W) over the pixels of each row whose domain coordinate ct (B,H,W, increasing along
    W) lies within ``radius`` of the pixel's."""
    lo = torch.searchsorted(ct, ct - radius)  # (B,H,W): first index with t >= t_x - r
    hi = torch.searchsorted(ct, ct + radius, right=True)  # first index with t > t_x + r
    sat = F.pad(x.cumsum(-1), (1, 0))  # (B,C,H,W+1): sums of the first k pixels of each row
    c = x.shape[1]
    lo, hi = lo[:, None].expand(-1, c, -1, -1), hi[:, None].expand(-1, c, -1, -1)
    return (sat.gather(-1, hi) - sat.gather(-1, lo)) / (hi - lo).to(x.dtype)
