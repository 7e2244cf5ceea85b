"""Adaptive instance normalisation and its region-wise (masked) variant, on VGG feature maps.

Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization"
(ICCV), eq. 8: AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y), with mu and sigma the per-channel mean
and standard deviation over the spatial positions. The statistics are those of
:func:`atelier.losses.mean_std` (one definition for the op and the style loss of eq. 11).

Additions for inference (the paper's §7.1 user controls):

* ``content_stats``: the content's (mean, std) may be given instead of measured on ``x``. A tile of a large
  image must be normalised by the statistics of the whole image's features (measured once, see
  ``methods/arbitrary.py``), not by its own, or each tile would get its own contrast and colour cast;
* :func:`masked_mean_std` measures statistics over a soft region (a mask at the features' resolution) for
  spatial control: each region of the content is normalised by its own statistics and given those of its
  own style (§7.1, "Spatial control").

All functions take (B,C,H,W) features of any float dtype and compute the statistics in fp32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..losses import EPS, mean_std

Stats = tuple[torch.Tensor, torch.Tensor]  # (mean, std), each (B,C,1,1) fp32


def adain(x: torch.Tensor, style_stats: Stats, content_stats: Stats | None = None) -> torch.Tensor:
    """Eq. 8: ``x`` (B,C,H,W) normalised per channel, then given the style's mean and std (B|1,C,1,1).

    ``content_stats`` replaces the statistics of ``x`` itself (tiles: the whole image's). Returns fp32.
    """
    mu_c, sd_c = content_stats if content_stats is not None else mean_std(x)
    mu_s, sd_s = style_stats
    return (x.float() - mu_c) / sd_c * sd_s + mu_s


def mean_variance_norm(x: torch.Tensor, stats: Stats | None = None) -> torch.Tensor:
    """Channel-wise normalisation to zero mean and unit std (SANet's ``Norm``, Park & Lee 2019 eq. 1).
    ``stats`` replaces the statistics of ``x`` (tiles). Returns fp32."""
    mu, sd = stats if stats is not None else mean_std(x)
    return (x.float() - mu) / sd


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> Stats:
    """Channel mean and std of ``x`` (B,C,H,W) weighted by a soft ``mask`` (B|1,1,H,W) in [0,1]."""
    f, m = x.float(), mask.float()
    total = m.sum(dim=(2, 3), keepdim=True).clamp_min(EPS)
    mu = (f * m).sum(dim=(2, 3), keepdim=True) / total
    var = ((f - mu).pow(2) * m).sum(dim=(2, 3), keepdim=True) / total
    return mu, (var + eps).sqrt()


def blend_stats(stats: Sequence[Stats], weights: Sequence[float]) -> Stats:
    """Weighted mean of several styles' (mean, std): the interpolated AdaIN target of §7.1 ("Style
    interpolation": AdaIN with the weighted statistics equals the weighted sum of the single-style targets,
    since eq. 8 is affine in (mu(y), sigma(y))). Weights are normalised to sum to 1."""
    total = float(sum(weights))
    mu = sum(w / total * s[0] for w, s in zip(weights, stats))
    sd = sum(w / total * s[1] for w, s in zip(weights, stats))
    return mu, sd


def region_adain(x: torch.Tensor, style_stats: Sequence[Stats], masks: Sequence[torch.Tensor],
                 content_stats: Sequence[Stats] | None = None) -> torch.Tensor:
    """Spatial control (§7.1): region k of ``x`` (mask k at the features' size, (1,1,H,W)) normalised by
    its own statistics and given style k's; positions no mask covers keep ``x``; where masks overlap to more than
    1 their weights are scaled to sum to 1. Returns fp32.

    ``content_stats`` (one per region) replaces the per-region statistics measured on ``x`` (tiles).
    """
    covered = sum(m.float() for m in masks)  # (1,1,H,W); overlapping masks share a position
    scale = 1 / covered.clamp_min(1.0)
    out = (1 - covered).clamp(0, 1) * x.float()  # positions no mask covers keep x
    for k, (s, m) in enumerate(zip(style_stats, masks)):
        cs = content_stats[k] if content_stats is not None else masked_mean_std(x, m)
        out = out + m * scale * adain(x, s, cs)
    return out
