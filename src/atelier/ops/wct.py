"""Whitening and colouring transforms of VGG feature maps.

Li, Fang, Yang, Wang, Lu & Yang 2017, "Universal Style Transfer via Feature Transforms" (NeurIPS), §3.1:
with f_c (C, N) the content features minus their mean m_c and E_c D_c E_c^T the eigendecomposition of their
covariance f_c f_c^T / (N - 1),

    whitening (eq. 2):  f^_c  = E_c D_c^(-1/2) E_c^T f_c          (uncorrelated, unit variance)
    colouring (eq. 3):  f^_cs = E_s D_s^(1/2) E_s^T f^_c + m_s    (the style's covariance and mean)

and the content-style blend f = alpha f^_cs + (1 - alpha) f_c (eq. 4). The two matrices are kept apart so
that a style is analysed once (:func:`colouring`) and a photo once (:func:`whitening`), and multiplied into
one (C, C) matrix per run (:func:`transform`): the transform is affine in the features, so several styles
blend by their weighted matrices and means exactly as by their weighted outputs (§4 "style interpolation"),
at the cost of one style.

Deviations (deliberate):
* eigenvalues below 1e-5 x the largest are dropped (the reference code drops those below an absolute 1e-5,
  for VGG features of [0,1] images; atelier's VGG sees Caffe's 0-255 scale, so the threshold is relative);
* masks (spatial control, as AdaIN's §7.1 and the paper's §4 "spatial control"): the statistics of a region
  are taken with the mask as weights, so a soft mask edge contributes in proportion.

Statistics are computed in fp32 and decomposed in fp64 (``torch.linalg.eigh``, 512x512 in a few ms).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..losses import EPS

REL_EPS = 1e-5  # eigenvalues below this fraction of the largest are treated as zero
Affine = tuple[torch.Tensor, torch.Tensor]  # (mean (C,1), matrix (C,C)), fp64


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(1,C,H,W) -> (C,H*W) fp32; one image only (statistics are per image)."""
    if x.shape[0] != 1:
        raise ValueError(f"whitening works on one image at a time, not a batch of {x.shape[0]}")
    return x.float().flatten(2)[0]


def moments(x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,1) and covariance (C,C), fp64, of features ``x`` (1,C,H,W), weighted by ``mask`` (1,1,H,W)."""
    f = _flat(x)
    if mask is None:
        mu = f.mean(1, keepdim=True)
        d = f - mu
        cov = d @ d.T / max(f.shape[1] - 1, 1)
    else:
        w = mask.float().flatten()  # (N,)
        total = w.sum().clamp_min(EPS)
        mu = (f * w).sum(1, keepdim=True) / total
        d = f - mu
        cov = (d * w) @ d.T / total
    return mu.double(), cov.double()


def _power(cov: torch.Tensor, p: float) -> torch.Tensor:
    """cov^p of a symmetric positive semi-definite (C,C) fp64 matrix, on the eigenvalues kept (REL_EPS)."""
    vals, vecs = torch.linalg.eigh((cov + cov.T) / 2)  # ascending eigenvalues
    keep = vals > REL_EPS * vals[-1].clamp_min(EPS)
    e = vecs[:, keep]
    return (e * vals[keep].pow(p)) @ e.T


def whitening(x: torch.Tensor, mask: torch.Tensor | None = None) -> Affine:
    """(m_c, E_c D_c^-1/2 E_c^T) of content features ``x`` (1,C,H,W) (eq. 2)."""
    mu, cov = moments(x, mask)
    return mu, _power(cov, -0.5)


def colouring(x: torch.Tensor, mask: torch.Tensor | None = None) -> Affine:
    """(m_s, E_s D_s^1/2 E_s^T) of style features ``x`` (1,C,H,W) (eq. 3)."""
    mu, cov = moments(x, mask)
    return mu, _power(cov, 0.5)


def transform(white: Affine, colours: Sequence[Affine], weights: Sequence[float]) -> Affine:
    """The affine map (offset (C,1), matrix (C,C)) x -> M (x - m_c) + m, fp32, of the weighted styles
    (weights normalised to sum to 1): M = sum_k w_k C_k W_c, m = sum_k w_k m_k."""
    total = float(sum(weights))
    mu_c, w = white
    m = sum(wk / total * c[1] for wk, c in zip(weights, colours)) @ w
    offset = sum(wk / total * c[0] for wk, c in zip(weights, colours)) - m @ mu_c
    return offset.float(), m.float()


def apply(x: torch.Tensor, affine: Affine) -> torch.Tensor:
    """M x + offset for features ``x`` (B,C,H,W) -> fp32 (B,C,H,W)."""
    offset, m = affine
    b, c, h, w = x.shape
    return (m @ x.float().reshape(b, c, h * w) + offset).reshape(b, c, h, w)


def wct(x: torch.Tensor, white: Affine, colours: Sequence[Affine], weights: Sequence[float]) -> torch.Tensor:
    """Features ``x`` whitened by ``white`` (the whole photo's, also for a tile) and coloured by the
    weighted styles (eq. 2-3, §4). Returns fp32 (B,C,H,W)."""
    return apply(x, transform(white, colours, weights))


def region_wct(x: torch.Tensor, whites: Sequence[Affine], colours: Sequence[Affine],
               masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Spatial control: region k of ``x`` (mask k at the features' size) whitened by its own statistics
    ``whites[k]`` and coloured by style k; positions no mask covers keep ``x``; overlapping masks share a
    position in proportion (as ``ops.adain.region_adain``). Returns fp32."""
    covered = sum(m.float() for m in masks)  # (1,1,H,W)
    scale = 1 / covered.clamp_min(1.0)
    out = (1 - covered).clamp(0, 1) * x.float()
    for white, colour, m in zip(whites, colours, masks):
        out = out + m * scale * wct(x, white, [colour], [1.0])
    return out
