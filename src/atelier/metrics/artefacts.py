"""Periodic artefacts: how much of an image's energy sits on the lattice of a fixed-period grid.

A decoder that upsamples VGG features by nearest neighbours (or strided convolutions) can print the
features' 8-pixel stride onto its output as a grid or "staircase" pattern. In the spectrum of the luminance
such a pattern is a set of peaks at the lattice frequencies (ky H/p, kx W/p) for the period p = 8 and its
harmonics. :func:`grid_energy` measures the peaks against the spectrum around them;
:func:`grid_ratio` divides an output's measure by its content photo's, so that 1 means "no more grid than
the photo itself had" (natural images have some energy there too: edges, JPEG's own 8x8 blocks).
"""

from __future__ import annotations

import math

import torch

from ..ops.color import luminance

PERIOD = 8  # the stride of relu4_1 in VGG-19: three 2x poolings
_PEAK = 1  # a lattice point's peak is the largest bin within this Chebyshev radius (window leakage)
_RING = (3, 6)  # its neighbourhood: bins at Chebyshev distance 3..6, the spectrum's local level


def _power(image: torch.Tensor) -> torch.Tensor:
    """(1,3,H,W) or (1,1,H,W) in [0,1] -> (H,W) power spectrum of the Hann-windowed, zero-mean luminance."""
    y = luminance(image) if image.shape[1] == 3 else image
    y = y[0, 0].double()
    h, w = y.shape
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=y.dtype),
                         torch.hann_window(w, periodic=False, dtype=y.dtype))
    y = (y - y.mean()) * window  # the window keeps the image's borders from leaking energy everywhere
    return torch.fft.fft2(y).abs().square()


def grid_energy(image: torch.Tensor, period: int = PERIOD) -> float:
    """Geometric mean over the lattice frequencies of a ``period``-px grid (all harmonics, (0,0) excluded)
    of peak power / median power of the neighbouring frequencies. ~1-2 for a natural photo, far more for an
    image with a visible grid. ``image``: (1,C,H,W) with H, W >= 4 * period."""
    h, w = image.shape[-2:]
    if min(h, w) < 4 * period:
        raise ValueError(f"grid_energy needs at least {4 * period} pixels per side, not {w}x{h}")
    power = _power(image)
    r_out = _RING[1]
    ratios = []
    for ky in range(period):
        for kx in range(period):
            if ky == kx == 0:
                continue
            cy, cx = round(ky * h / period), round(kx * w / period)
            # (2r+1)^2 bins around the lattice point, wrapping around the spectrum's edges
            rows = torch.arange(cy - r_out, cy + r_out + 1) % h
            cols = torch.arange(cx - r_out, cx + r_out + 1) % w
            patch = power[rows][:, cols]
            d = torch.arange(-r_out, r_out + 1).abs()
            cheb = torch.maximum(d[:, None], d[None, :])
            peak = patch[cheb <= _PEAK].max()
            level = patch[(cheb >= _RING[0]) & (cheb <= _RING[1])].median()
            ratios.append(math.log(float(peak) + 1e-30) - math.log(float(level) + 1e-30))
    return math.exp(sum(ratios) / len(ratios))


def grid_ratio(output: torch.Tensor, content: torch.Tensor, period: int = PERIOD) -> float:
    """grid_energy(output) / grid_energy(content): 1 = no more grid than the photo; the content is resized
    to the output's size first so that both are measured on the same lattice."""
    from ..io import resize

    if tuple(content.shape[-2:]) != tuple(output.shape[-2:]):
        content = resize(content, tuple(output.shape[-2:]))
    return grid_energy(output, period) / grid_energy(content, period)
