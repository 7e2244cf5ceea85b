"""Colour control: luminance-only transfer and colour histogram matching.

Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, "Controlling Perceptual Factors in Neural Style
Transfer", §3. Two ways to keep the content's colours:

* luminance-only transfer (§3.2): transfer the style on the luminance channel only, after matching the
  style's luminance mean and standard deviation to the content's, then put the content's chroma back;
* colour histogram matching (§3.1): recolour the style image so that its colour mean and covariance match
  the content's, then transfer as usual. Like the paper we use a linear transform (the symmetric matrix
  square root variant of Hertzmann et al.'s "image analogies" colour transfer), which matches the first two
  moments of the colour distribution rather than the full histogram.

All functions take and return RGB in [0,1], shape (B,3,H,W).
"""

from __future__ import annotations

import torch

# YIQ (NTSC) as in Gatys et al. 2017 §3.2.
_RGB2YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    # (3,3) x (B,3,H,W) -> (B,3,H,W): a per-pixel colour-space change.
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _apply(_RGB2YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _apply(_YIQ2RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) RGB -> (B,1,H,W) luma Y."""
    return rgb_to_yiq(image)[:, :1]


def gray3(y: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) luminance -> (B,3,H,W) gray RGB image, so VGG sees a grey picture."""
    return y.expand(-1, 3, -1, -1).clamp(0, 1).contiguous()


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Shift and scale the style's luminance to the content's mean and standard deviation (§3.2, eq. 8)."""
    mu_s, sd_s = style_y.mean(), style_y.std().clamp_min(1e-6)
    mu_c, sd_c = content_y.mean(), content_y.std()
    return ((style_y - mu_s) * (sd_c / sd_s) + mu_c).clamp(0, 1)


def combine_luminance(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``result`` with the I/Q chroma of ``content`` (same size) -> RGB in [0,1]."""
    yiq = rgb_to_yiq(content)
    yiq = torch.cat([luminance(result), yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def prepare_inputs(content: torch.Tensor, styles: list[torch.Tensor],
                   mode: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The (content, styles) a method should stylise for ``--preserve-color`` ``mode``:

    * 'luminance' (§3.2): the content's grey luminance, and each style's luminance matched to it (grey);
      put the colours back afterwards with :func:`combine_luminance` (result, content);
    * 'histogram' (§3.1): the content unchanged, the styles recoloured to its colour statistics;
    * 'none': both unchanged.
    """
    if mode == "luminance":
        y = luminance(content)
        return gray3(y), [gray3(match_luminance(luminance(s), y)) for s in styles]
    if mode == "histogram":
        return content, [match_color_histogram(s, content) for s in styles]
    return content, list(styles)


def _sym_sqrt(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    # Symmetric (inverse) square root of a 3x3 covariance through its eigen-decomposition.
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    d = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(d) @ vecs.T


def match_color_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Recolour ``style`` so its colour mean and covariance equal ``content``'s (§3.1, eq. 6-7).

    x' = A (x - mu_s) + mu_c with A = Cov_c^{1/2} Cov_s^{-1/2}. Computed in float64 for a stable eigh.
    """
    def stats(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        px = img.double().permute(1, 0, 2, 3).reshape(3, -1)  # (3, B*H*W)
        mu = px.mean(dim=1, keepdim=True)
        centred = px - mu
        return mu, centred @ centred.T / px.shape[1]

    mu_s, cov_s = stats(style)
    mu_c, cov_c = stats(content)
    a = _sym_sqrt(cov_c) @ _sym_sqrt(cov_s, inverse=True)
    b, _, h, w = style.shape
    px = style.double().permute(1, 0, 2, 3).reshape(3, -1)
    out = a @ (px - mu_s) + mu_c
    return out.reshape(3, b, h, w).permute(1, 0, 2, 3).to(style.dtype).clamp(0, 1).contiguous()
