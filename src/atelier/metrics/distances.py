"""Image-quality distances of a stylised output ``x`` to its content ``c`` and style ``s``.

Feature distances take dicts ``{layer: (B,C,H,W)}`` from :func:`atelier.features.get_vgg19` (one VGG for
the whole library); pixel distances take RGB images in [0,1], shape (B,3,H,W). Every function returns a
Python float; every distance is 0 for identical inputs and *relative* (divided by a norm of the
reference), so numbers are comparable across layers, images and sizes.

    style_gram     mean_l ||G_l(x) - G_l(s)||^2 / ||G_l(s)||^2          Gatys et al. 2016, eq. 4
    style_swd      mean_l SW2(F_l(x), F_l(s)) / RMS(P F_l(s))             Heitz et al. 2021; Rabin 2011
    style_meanstd  mean_l ||mu_x-mu_s||/||mu_s|| + ||sd_x-sd_s||/||sd_s|| Huang & Belongie 2017, eq. 11
    content        ||F(x) - F(c)||^2 / ||F(c)||^2 at relu4_2              Gatys et al. 2016, eq. 1
    ssim           SSIM on the luminance Y                                Wang et al. 2004
    color_hist     mean_RGB W1(hist_x, hist_c)                            1-D Wasserstein-1 per channel
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from ..losses import content_loss, gram_loss, gram_matrix, mean_std
from ..ops.color import luminance
from ..ops.pyramids import gaussian_window

#: Gatys et al. 2016's style layers, used by the Gram and sliced-Wasserstein distances.
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: AdaIN's style-loss layers (Huang & Belongie 2017 §6.2), used by the mean/std distance.
MEANSTD_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CONTENT_LAYER = "relu4_2"
#: Seed of the random projections of :func:`sliced_wasserstein` when no generator is given.
SWD_SEED = 0

_EPS = 1e-8

Feats = Mapping[str, torch.Tensor]


def _missing(feats: Feats, layers: Sequence[str], name: str) -> None:
    absent = [k for k in layers if k not in feats]
    if absent:
        raise ValueError(f"{name} lack layer(s) {absent}; compute them with vgg(image, layers)")


# ----------------------------------------------------------------------------------------------------
# Style


def gram_distance(x_feats: Feats, s_feats: Feats, layers: Sequence[str] = STYLE_LAYERS) -> float:
    """Relative Gram error, averaged over ``layers`` (default relu1_1 ... relu5_1).

    d = 1/L sum_l ||G_l(x) - G_l(s)||_F^2 / ||G_l(s)||_F^2, G = F F^T / HW (Gatys et al. 2016 eq. 3-4,
    normalised as in :mod:`atelier.losses`). The images may have different sizes (a Gram is (C,C)).
    """
    _missing(x_feats, layers, "x_feats")
    _missing(s_feats, layers, "s_feats")
    total = 0.0
    for k in layers:
        total += float(gram_loss(x_feats[k], gram_matrix(s_feats[k])))
    return total / len(layers)


def _points(feats: torch.Tensor) -> torch.Tensor:
    # (B,C,H,W) -> (B*H*W, C): every spatial position of every batch item is one point in R^C.
    b, c, h, w = feats.shape
    return feats.float().permute(0, 2, 3, 1).reshape(b * h * w, c)


def _quantiles(sorted_vals: torch.Tensor, n: int) -> torch.Tensor:
    """(N,P) sorted columns -> (n,P): the quantile function sampled at (i + 1/2)/n, linear interpolation."""
    if sorted_vals.shape[0] == n:
        return sorted_vals
    # Linear interpolation with align_corners=False samples at the bin midpoints: (i+0.5) N/n - 0.5.
    q = F.interpolate(sorted_vals.T[None], size=n, mode="linear", align_corners=False)  # (1,P,n)
    return q[0].T


def sliced_wasserstein(
    x_feats: Feats,
    s_feats: Feats,
    layers: Sequence[str] = STYLE_LAYERS,
    n_projections: int = 64,
    generator: torch.Generator | None = None,
) -> float:
    """Sliced Wasserstein-2 distance between the VGG feature distributions, relative, averaged over layers.

    Rabin, Peyré, Delon & Bernot 2011 ("Wasserstein barycenter and its application to texture mixing");
    used as a style loss/metric by Heitz, Vanhoey, Chambon & Belcour 2021 ("A Sliced Wasserstein Loss for
    Neural Texture Synthesis"). At each layer the features are a point cloud of C-dim vectors (one per
    position). For P random unit directions v_p (a CPU ``torch.Generator``, seed ``SWD_SEED`` unless one is
    given, so the value is deterministic):

        SW2_l   = sqrt( 1/P sum_p  int_0^1 (Q_{v_p.x}(t) - Q_{v_p.s}(t))^2 dt )
        d       = 1/L sum_l  SW2_l / sqrt( 1/P sum_p E[(v_p.s)^2] )

    Q is the quantile function of the projected values: the sorted projections; when the two clouds have
    different sizes, the shorter sorted array is linearly interpolated to the longer one's length (quantiles
    at the same levels (i+1/2)/n). Normalisation: each layer is divided by the RMS of the *style's*
    projected features (their mean projected second moment), so layers of different magnitude count alike
    and the number is scale-free; SW2 itself is symmetric, the normalisation makes d only nearly so.
    """
    _missing(x_feats, layers, "x_feats")
    _missing(s_feats, layers, "s_feats")
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    g = generator if generator is not None else torch.Generator().manual_seed(SWD_SEED)
    total = 0.0
    for k in layers:
        px, ps = _points(x_feats[k]), _points(s_feats[k])  # (Nx,C), (Ns,C)
        if px.shape[1] != ps.shape[1]:
            raise ValueError(f"channel mismatch at {k}: {px.shape[1]} vs {ps.shape[1]}")
        dirs = torch.randn(px.shape[1], n_projections, generator=g)  # (C,P), drawn on the CPU
        dirs = (dirs / dirs.norm(dim=0, keepdim=True).clamp_min(_EPS)).to(px.device)
        qx = torch.sort(px @ dirs, dim=0).values  # (Nx,P)
        qs = torch.sort(ps @ dirs, dim=0).values  # (Ns,P)
        n = max(qx.shape[0], qs.shape[0])
        qx, qs_n = _quantiles(qx, n), _quantiles(qs, n)  # (n,P) each
        sw2 = (qx - qs_n).pow(2).mean().sqrt()
        scale = qs.pow(2).mean().sqrt().clamp_min(_EPS)
        total += float(sw2 / scale)
    return total / len(layers)


def mean_std_distance(x_feats: Feats, s_feats: Feats, layers: Sequence[str] = MEANSTD_LAYERS) -> float:
    """AdaIN statistics distance, averaged over ``layers`` (default relu1_1 ... relu4_1, AdaIN's layers).

    d = 1/L sum_l ( ||mu_l(x) - mu_l(s)|| / ||mu_l(s)|| + ||sigma_l(x) - sigma_l(s)|| / ||sigma_l(s)|| )

    with channel-wise means mu and standard deviations sigma over positions (Huang & Belongie 2017, eq. 11,
    un-squared and relative to the style's norms so layers are comparable). Mean over batch items.
    """
    _missing(x_feats, layers, "x_feats")
    _missing(s_feats, layers, "s_feats")
    total = 0.0
    for k in layers:
        mx, sx = mean_std(x_feats[k])  # (B,C,1,1) each
        ms, ss = mean_std(s_feats[k])
        dm = (mx - ms).flatten(1).norm(dim=1) / ms.flatten(1).norm(dim=1).clamp_min(_EPS)  # (B,)
        ds = (sx - ss).flatten(1).norm(dim=1) / ss.flatten(1).norm(dim=1).clamp_min(_EPS)
        total += float((dm + ds).mean())
    return total / len(layers)


# ----------------------------------------------------------------------------------------------------
# Content


def content_distance(x_feats: Feats, c_feats: Feats, layer: str = CONTENT_LAYER) -> float:
    """Relative feature error ||F(x) - F(c)||^2 / ||F(c)||^2 at ``layer`` (Gatys et al. 2016 eq. 1).

    x and c must have the same size (evaluate() resizes the content to the output).
    """
    _missing(x_feats, [layer], "x_feats")
    _missing(c_feats, [layer], "c_feats")
    return float(content_loss(x_feats[layer], c_feats[layer]))


def _check_pair(x: torch.Tensor, c: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3 or x.shape != c.shape:
        raise ValueError(
            f"expected two (B,3,H,W) images of the same shape, got {tuple(x.shape)}, {tuple(c.shape)}"
        )


def ssim_luminance(
    x: torch.Tensor,
    c: torch.Tensor,
    *,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
) -> float:
    """Mean SSIM of the luminances Y (:func:`atelier.ops.color.luminance`) of two (B,3,H,W) images.

    Wang, Bovik, Sheikh & Simoncelli 2004, "Image Quality Assessment: From Error Visibility to Structural
    Similarity", eq. 13 with their settings: an 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
    data range L = 1, C1 = (K1 L)^2, C2 = (K2 L)^2, local statistics without sample-size correction,

        SSIM(x,y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

    averaged over the "valid" positions (no padding: the window lies inside the image), which is what
    Wang's reference code and scikit-image (gaussian_weights=True, use_sample_covariance=False) report.
    Images smaller than the window use the largest odd window that fits.
    """
    _check_pair(x, c)
    y1, y2 = luminance(x.float()), luminance(c.float())  # (B,1,H,W) each
    size = min(window, *y1.shape[-2:])
    size -= 1 - size % 2  # odd
    w = gaussian_window(size, sigma, device=y1.device, dtype=y1.dtype)[None, None]  # (1,1,size,size)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w)  # (B,1,H-size+1,W-size+1)

    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu1, mu2 = filt(y1), filt(y2)
    s11 = filt(y1 * y1) - mu1 * mu1
    s22 = filt(y2 * y2) - mu2 * mu2
    s12 = filt(y1 * y2) - mu1 * mu2
    num = (2 * mu1 * mu2 + c1) * (2 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    return float((num / den).mean())


def color_histogram_distance(x: torch.Tensor, c: torch.Tensor, bins: int = 32) -> float:
    """Mean over R, G, B of the 1-D Wasserstein-1 distance between the channel's value histograms.

    Each channel's values in [0,1] go into ``bins`` equal bins (mass normalised to 1); for 1-D
    distributions W1 = integral |CDF_x - CDF_c| = sum_b |CDF_x(b) - CDF_c(b)| / bins. In [0,1]: the average
    distance (in channel-value units) the colour mass must move; 0 for identical colour distributions,
    blind to where the colours are (that is SSIM's and the content distance's job). Sizes may differ.
    """
    if x.dim() != 4 or x.shape[1] != 3 or c.dim() != 4 or c.shape[1] != 3:
        raise ValueError(f"expected (B,3,H,W) images, got {tuple(x.shape)}, {tuple(c.shape)}")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    total = 0.0
    for ch in range(3):
        hx = torch.histc(x[:, ch].float().clamp(0, 1), bins=bins, min=0.0, max=1.0)  # (bins,)
        hc = torch.histc(c[:, ch].float().clamp(0, 1), bins=bins, min=0.0, max=1.0)
        cdf_x = torch.cumsum(hx / hx.sum().clamp_min(_EPS), 0)
        cdf_c = torch.cumsum(hc / hc.sum().clamp_min(_EPS), 0)
        total += float((cdf_x - cdf_c).abs().sum()) / bins
    return total / 3

