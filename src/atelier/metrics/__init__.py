"""Quality metrics of a stylised output against its content and style images.

The judge is independent of what it judges: this package never imports ``atelier.methods`` or
``atelier.api``; it uses only io, features (the one VGG-19), losses and ops.

    from atelier.metrics import evaluate
    evaluate("out.png", content="photo.jpg", style="painting.jpg")
    # {"content": 0.61, "ssim": 0.42, "color_hist": 0.05, "style_gram": 0.31, "style_swd": 0.22, ...}
    from atelier.metrics import kid_folders
    kid_folders("stylised/", "paintings/")  # a collection's look: KID on VGG-19 features (metrics/kid_vgg.py)
    # {"kid": 0.012, "low": 0.008, "high": 0.017, "n_a": 144, "n_b": 8, ...}

Comparable numbers: :func:`evaluate` resizes the output so its long side is ``size`` (EVAL_SIZE = 512),
the content to exactly the output's (h, w), and the style to the output's *area* (its aspect kept), so
the feature statistics are taken at one scale whatever sizes the runs used. :data:`METRICS` describes
each key in one line.
"""

from __future__ import annotations

import math

import torch

from ..errors import OptionError
from ..features import get_vgg19
from ..io import check_work_size, fit_size, load_image, resize
from .artefacts import PERIOD as GRID_PERIOD
from .artefacts import grid_energy, grid_ratio
from .copying import copy_fraction
from .distances import (
    CONTENT_LAYER,
    MEANSTD_LAYERS,
    STYLE_LAYERS,
    SWD_SEED,
    color_histogram_distance,
    content_distance,
    gram_distance,
    mean_std_distance,
    sliced_wasserstein,
    ssim_luminance,
)
from .kid_vgg import (
    KID_LAYERS,
    KID_SIZE,
    collection_features,
    kid,
    kid_difference,
    kid_folders,
    mmd2_unbiased,
    polynomial_kernel,
)
from .report import format_table, write_csv, write_json
from .temporal import dis_flow, occlusion_mask, warp, warping_error

EVAL_SIZE = 512

#: Metric key -> one-line definition (x output, c content, s style; F VGG-19 features, G = F F^T / HW).
METRICS: dict[str, str] = {
    "content": "||F(x)-F(c)||^2 / ||F(c)||^2 at relu4_2; lower = closer to the content (Gatys 2016 eq. 1)",
    "ssim": "SSIM of the luminances of x and c, Gaussian 11x11 window, sigma 1.5 (Wang 2004); 1 = same",
    "color_hist": "mean over R,G,B of the Wasserstein-1 distance of x's and c's 32-bin value histograms",
    "grid": "spectral peaks of x's luminance on an 8-px grid's lattice over c's (1 = no added grid; NaN "
            "below 32 px)",
    "style_gram": "mean over relu1_1..relu5_1 of ||G(x)-G(s)||^2 / ||G(s)||^2 (Gatys 2016 eq. 4)",
    "style_swd": "mean over relu1_1..relu5_1 of sliced W2(F(x), F(s)) (64 projections) / RMS(s projected)",
    "style_meanstd": "mean over relu1_1..relu4_1 of ||mu_x-mu_s||/||mu_s|| + ||sd_x-sd_s||/||sd_s|| (AdaIN)",
}
CONTENT_KEYS = ("content", "ssim", "color_hist", "grid")
STYLE_KEYS = ("style_gram", "style_swd", "style_meanstd")

__all__ = [
    "CONTENT_KEYS", "CONTENT_LAYER", "EVAL_SIZE", "MEANSTD_LAYERS", "METRICS", "STYLE_KEYS", "STYLE_LAYERS",
    "SWD_SEED", "color_histogram_distance", "content_distance", "copy_fraction", "dis_flow", "evaluate", "format_table",
    "gram_distance", "grid_energy", "grid_ratio", "mean_std_distance", "occlusion_mask", "sliced_wasserstein", "ssim_luminance", "warp",
    "warping_error", "write_csv", "write_json",
]
# A collection's look (kid_vgg.py): KID on VGG-19 features.
__all__ += ["KID_LAYERS", "KID_SIZE", "collection_features", "kid", "kid_difference", "kid_folders", "mmd2_unbiased", "polynomial_kernel"]


def _same_area(height: int, width: int, area: int) -> tuple[int, int]:
    """(h, w) with h*w ~ area and the aspect ratio of (height, width) kept, each side >= 1."""
    scale = math.sqrt(area / (height * width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _device(output, vgg, device) -> torch.device:
    if device is not None:
        return torch.device(device)
    if vgg is not None:
        p = next(vgg.parameters(), None)
        if p is not None:
            return p.device
    if isinstance(output, torch.Tensor):
        return output.device
    return torch.device("cpu")


# Peak memory per pixel of the evaluation's VGG-19 passes (no backward pass; the output's and the content's
# features to relu5_1 alive together), for the refusal of sizes this machine cannot hold.
EVAL_BYTES_PER_PIXEL = 1200


def eval_size(hw, size) -> tuple[int, int]:
    """(h, w) of an image of (h, w) evaluated at long side ``size``; one sentence if that is too small for
    VGG-19's deepest layer (16 px) or too large for the pixel limit or this machine's memory."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise OptionError(f"The evaluation size must be a whole number of at least 16 pixels, not {size!r}.")
    h, w = fit_size(int(hw[0]), int(hw[1]), size)
    if min(h, w) < 16:
        raise OptionError(f"At --size {size} the image is evaluated at {w}x{h} pixels; its short side must be "
                          "at least 16 pixels for VGG-19's deepest layer: increase --size.")
    check_work_size((h, w), what=f"The evaluation image at --size {size}",
                    peak_bytes=EVAL_BYTES_PER_PIXEL * h * w)
    return h, w


@torch.no_grad()
def evaluate(
    output, *, content=None, style=None, size: int | None = EVAL_SIZE, vgg=None, device=None
) -> dict[str, float]:
    """Metrics of ``output`` against ``content`` and/or ``style``: ``{key: float}``, keys as in METRICS.

    Inputs are anything :func:`atelier.io.load_image` reads (path, PIL, array, tensor). The output is
    resized so its long side is ``size`` (None: kept), the content to the output's (h, w), the style to
    the output's area with its own aspect ratio. Content keys (content, ssim, color_hist) appear only with
    a content image, style keys (style_gram, style_swd, style_meanstd) only with a style image.
    ``vgg``: a :class:`atelier.features.VGG19` (default: the shared pretrained one on ``device``).
    """
    device = _device(output, vgg, device)
    x = load_image(output, device=device)  # (1,3,H,W)
    if size is not None:
        x = resize(x, eval_size(x.shape[-2:], size))
    h, w = x.shape[-2:]
    results: dict[str, float] = {}
    if content is None and style is None:
        return results
    if vgg is None:
        vgg = get_vgg19(weights="pretrained", device=device)

    layers = set()
    if content is not None:
        layers.add(CONTENT_LAYER)
    if style is not None:
        layers.update(STYLE_LAYERS, MEANSTD_LAYERS)
    x_feats = vgg(x, layers)

    if content is not None:
        c = resize(load_image(content, device=device), (h, w))
        c_feats = vgg(c, [CONTENT_LAYER])
        results["content"] = content_distance(x_feats, c_feats, CONTENT_LAYER)
        results["ssim"] = ssim_luminance(x, c)
        results["color_hist"] = color_histogram_distance(x, c)
        results["grid"] = grid_ratio(x, c) if min(h, w) >= 4 * GRID_PERIOD else math.nan
    if style is not None:
        s = load_image(style, device=device)
        s = resize(s, _same_area(s.shape[-2], s.shape[-1], h * w))
        s_feats = vgg(s, set(STYLE_LAYERS) | set(MEANSTD_LAYERS))
        results["style_gram"] = gram_distance(x_feats, s_feats, STYLE_LAYERS)
        results["style_swd"] = sliced_wasserstein(x_feats, s_feats, STYLE_LAYERS)
        results["style_meanstd"] = mean_std_distance(x_feats, s_feats, MEANSTD_LAYERS)
    return results
