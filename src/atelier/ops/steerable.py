"""Complex steerable pyramid in the frequency domain (Simoncelli & Freeman 1995; Portilla & Simoncelli 2000).

The image's spectrum is split by smooth polar masks: a high-pass residual, ``n_scales`` scales of
``n_orientations`` oriented complex bands (each scale half the size of the previous one), and a low-pass
residual. Everything is an FFT and a product with precomputed masks, so it runs batched on any device in
float32 or float64 and is differentiable; the transform is periodic (it treats the image as a torus).

Conventions (those of matlabPyrTools / pyrtools / plenoptic's ``SteerablePyramidFreq`` with
``is_complex=True``, ``tight_frame=False``, ``twidth=1``, which this was written against, not copied from):

* frequencies are in units of the full image's Nyquist frequency (pi = 1); ``r`` is the radius, ``theta``
  the angle atan2(fy, fx);
* high-pass residual: mask ``cos(pi/2 * clip(log2 r, -1, 0))``; the matching low-pass ``sin`` of the same
  (squares sum to 1); scale ``s`` uses the same pair one octave lower per scale, on the spectrum cropped
  to half size at each scale (so each band is half the size of the previous one, and because the FFT is
  not renormalised a coarser band's values are 4x larger: plenoptic's scaling, which the texture
  statistics assume);
* orientation ``k`` of K: angular mask ``2 sqrt(c) cos(theta - pi k/K)^(K-1)`` on the half plane
  ``|theta - pi k/K| < pi/2`` (an analytic, i.e. complex, filter), with ``c = 4^(K-1) (K-1)!^2 / (K (2K-2)!)``
  so that the squared real filters sum to 1 over orientations; the factor ``(-i)^(K-1)`` makes the real
  part of a band the real steerable pyramid's band and the imaginary part its Hilbert transform.

Sizes: H and W must be divisible by ``2**n_scales`` (every cropped spectrum then has an even size, whose
Nyquist row the masks already zero) and the coarsest low-pass at least 4 pixels on a side (else the DC term
leaks into the coarsest band); :func:`check_size` raises :class:`ValueError` otherwise. Callers pad or crop
(the Portilla-Simoncelli method does, and says how).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

__all__ = ["Pyramid", "build", "check_size", "reconstruct", "upsample2"]


@dataclass
class Pyramid:
    """The coefficients of one image batch; shapes for an input (B,C,H,W), K orientations, S scales."""

    highpass: torch.Tensor  # (B,C,H,W) real: the high-pass residual
    bands: list[torch.Tensor]  # S tensors (B,C,K,H/2^s,W/2^s), complex, finest first
    lowpass: torch.Tensor  # (B,C,H/2^S,W/2^S) real: the low-pass residual
    # S+1 images (B,C,H/2^s,W/2^s), s = 0..S, real: the image low-passed down to scale s (s = S: the residual)
    # and filtered once more by that same low-pass, at scale s's own sampling (values 4^s x larger). This is
    # what pyrtools and plenoptic call the reconstructed low-pass of a scale (reconstructing from the bands
    # of scales >= s and the residual, then subsampling, applies the synthesis low-pass a second time);
    # Portilla & Simoncelli take statistics of these, and they come free with the analysis.
    lowpass_images: list[torch.Tensor]


def check_size(height: int, width: int, n_scales: int) -> None:
    """Raise ValueError unless (height, width) can carry an ``n_scales`` pyramid (see the module docstring)."""
    step = 2**n_scales
    if height % step or width % step:
        raise ValueError(f"a {n_scales}-scale pyramid needs sizes divisible by {step}, got {height}x{width}")
    if min(height, width) // step < 4:
        raise ValueError(f"a {n_scales}-scale pyramid needs sides of at least {4 * step} pixels, got {height}x{width}")


# ------------------------------------------------------------------------------------------------ masks
# Masks are computed on fftshifted grids (DC in the middle, easy to crop) and stored in torch.fft's own
# layout (DC at [0, 0]), so the transform itself never shifts a spectrum: a scale's smaller grid is a
# gather of the low frequencies (``rows``, ``cols``).


@dataclass(frozen=True)
class _Level:
    band: torch.Tensor  # (K,h,w) complex: radial high-pass x angular mask x (-i)^(K-1), this scale's grid
    recon: torch.Tensor  # (K,h,w) real: radial high-pass x the synthesis angular masks sqrt(c) cos^(K-1)
    low: torch.Tensor  # (h/2,w/2) radial low-pass towards the next scale, on the next grid
    rows: torch.Tensor  # (h/2,) indices of the next grid's frequencies in this grid (torch.fft layout)
    cols: torch.Tensor  # (w/2,)


@dataclass(frozen=True)
class _Filters:
    high0: torch.Tensor  # (H,W) the high-pass residual's mask
    low0: torch.Tensor  # (H,W) the low-pass taken before scale 0
    levels: tuple[_Level, ...]


def _grid(h: int, w: int, full_h: int, full_w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log2 radius and angle of an (h,w) fftshifted grid whose spacing is that of the full (H,W) image."""
    fy = (torch.arange(h, dtype=torch.float64) - h // 2) * (2.0 / full_h)  # DC at index h//2 (fftshift)
    fx = (torch.arange(w, dtype=torch.float64) - w // 2) * (2.0 / full_w)
    fy, fx = torch.meshgrid(fy, fx, indexing="ij")
    r = torch.sqrt(fx**2 + fy**2)
    r[h // 2, w // 2] = 2.0 / full_w  # DC: the radius of its neighbour (log2 0 is -inf), as pyrtools does
    return torch.log2(r), torch.atan2(fy, fx)


def _radial(log_r: torch.Tensor, octave: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) raised-cosine masks whose one-octave transition ends at log2 r = -octave; high^2+low^2=1."""
    t = (log_r + octave).clamp(-1.0, 0.0) * (math.pi / 2)
    return torch.cos(t), torch.sin(t).abs()


def _unshift(mask: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifftshift(mask, dim=(-2, -1))


def _low_indices(n: int) -> torch.Tensor:
    """Where the frequencies of an n//2 grid sit in an n grid, both in torch.fft's layout."""
    half = n // 2
    return (torch.fft.fftfreq(half, 1.0 / half).round().long()) % n


@functools.lru_cache(maxsize=16)
def _filters(height: int, width: int, n_scales: int, n_orientations: int, device: str,
             dtype: torch.dtype) -> _Filters:
    """All masks of a pyramid (computed once in float64, cached per size, device and dtype)."""
    order = n_orientations - 1
    c = 4**order * math.factorial(order) ** 2 / (n_orientations * math.factorial(2 * order))
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    log_r, theta = _grid(height, width, height, width)
    high0, low0 = _radial(log_r, 0)
    levels = []
    for s in range(n_scales):
        h, w = log_r.shape
        high, _ = _radial(log_r, s + 1)
        band, recon = [], []
        for k in range(n_orientations):
            d = theta - math.pi * k / n_orientations
            cos_k = torch.cos(d) ** order
            half = (torch.remainder(d + math.pi, 2 * math.pi) - math.pi).abs() < math.pi / 2  # analytic side
            band.append(2 * math.sqrt(c) * cos_k * half * high)
            recon.append(math.sqrt(c) * cos_k * high)
        # The next grid: the central half of this (even-sized) one; its DC stays at its own h//2.
        top, left = h // 2 - h // 4, w // 2 - w // 4
        log_r = log_r[top:top + h // 2, left:left + w // 2]
        theta = theta[top:top + h // 2, left:left + w // 2]
        _, low = _radial(log_r, s + 1)
        band_t = _unshift(torch.stack(band)) * (-1j) ** order
        levels.append(_Level(band_t.to(device=device, dtype=complex_dtype),
                             _unshift(torch.stack(recon)).to(device, dtype), _unshift(low).to(device, dtype),
                             _low_indices(h).to(device), _low_indices(w).to(device)))
    return _Filters(_unshift(high0).to(device, dtype), _unshift(low0).to(device, dtype), tuple(levels))


def _low_part(spec: torch.Tensor, lev: _Level) -> torch.Tensor:
    """(..., h, w) spectrum -> (..., h/2, w/2): its low frequencies, the next scale's grid."""
    return spec.index_select(-2, lev.rows).index_select(-1, lev.cols)


# ---------------------------------------------------------------------------------------- the transform


def build(image: torch.Tensor, n_scales: int, n_orientations: int) -> Pyramid:
    """(B,C,H,W) real image -> its :class:`Pyramid` (see the module docstring for the sizes it needs)."""
    if image.dim() != 4 or image.is_complex():
        raise ValueError(f"build expects a real (B,C,H,W) tensor, got {tuple(image.shape)} {image.dtype}")
    if n_orientations < 2:
        raise ValueError("a complex steerable pyramid needs at least 2 orientations")
    check_size(*image.shape[-2:], n_scales)
    f = _filters(*image.shape[-2:], n_scales, n_orientations, str(image.device), image.dtype)
    spec = torch.fft.fft2(image)  # (B,C,H,W) complex
    highpass = torch.fft.ifft2(spec * f.high0).real
    low = spec * f.low0  # the spectrum entering scale 0
    # (B,C,h,w) each; .real: the imaginary parts are rounding (the spectra are Hermitian).
    lowpass_images = [torch.fft.ifft2(low * f.low0).real]
    bands = []
    for lev in f.levels:
        # (B,C,1,h,w) x (K,h,w) -> (B,C,K,h,w): the oriented bands of this scale.
        bands.append(torch.fft.ifft2(low.unsqueeze(2) * lev.band))
        low = _low_part(low, lev) * lev.low  # (B,C,h/2,w/2)
        lowpass_images.append(torch.fft.ifft2(low * lev.low).real)
    return Pyramid(highpass, bands, torch.fft.ifft2(low).real, lowpass_images)


def reconstruct(highpass: torch.Tensor, bands: list[torch.Tensor], lowpass: torch.Tensor) -> torch.Tensor:
    """The image (B,C,H,W) back from :func:`build`'s high-pass, bands and low-pass (exact up to rounding).

    Only the real parts of the bands are used: they are the real steerable pyramid's coefficients, which
    reconstruct the image alone (the imaginary parts are their Hilbert transforms, redundant here)."""
    n_orientations = bands[0].shape[2]
    f = _filters(*highpass.shape[-2:], len(bands), n_orientations, str(highpass.device), highpass.dtype)
    spec = torch.fft.fft2(lowpass)  # (B,C,h,w), the coarsest grid
    for lev, band in zip(reversed(f.levels), reversed(bands)):
        # Up one scale: the low-pass part, zero-padded into the finer grid, plus the oriented bands.
        up = spec.new_zeros(*spec.shape[:-2], *band.shape[-2:])
        up[..., lev.rows[:, None], lev.cols] = spec * lev.low
        # (B,C,K,h,w) x (K,h,w) summed over K -> (B,C,h,w); the (-i)^(K-1) of the analysis is undone by i^(K-1).
        oriented = (torch.fft.fft2(band.real) * lev.recon).sum(2) * (1j) ** (n_orientations - 1)
        spec = up + oriented
    return torch.fft.ifft2(spec * f.low0 + torch.fft.fft2(highpass) * f.high0).real


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """(..., h, w) -> (..., 2h, 2w) by zero-padding the spectrum (exact for a band whose highest frequencies
    are zero, as the pyramid's are). Values come out 4x smaller (the inverse FFT averages over 4x the
    points): the scale of the finer level's coefficients, which is what Portilla & Simoncelli compare."""
    h, w = x.shape[-2:]
    spec = torch.fft.fft2(x)
    big = spec.new_zeros(*spec.shape[:-2], 2 * h, 2 * w)
    big[..., _low_indices(2 * h).to(x.device)[:, None], _low_indices(2 * w).to(x.device)] = spec
    return torch.fft.ifft2(big)
