"""WCT: any style with decoders that never saw a painting (Li, Fang, Yang, Wang, Lu & Yang 2017,
"Universal Style Transfer via Feature Transforms", NeurIPS).

At each level, coarse to fine (relu5_1, relu4_1, ..., relu1_1; §3.2, Fig. 4), the current image is encoded
by VGG-19 (``atelier.features``), its features are whitened and coloured with the painting's covariance
(§3.1, eq. 2-3; ``ops/wct.py``), blended with the photo's by alpha (eq. 4) and decoded by that level's
reconstruction decoder (``model.WCTNet``, trained by ``train.py``); the result is the next level's input.
Several styles blend their transforms by weight (§4), masks give each region its own style with its own
statistics (§4 "spatial control"), and colour preservation and tiles are those of AdaIN and SANet
(``methods/arbitrary.py``, whose statistics pass gives every tile the whole image's whitening at each
level). ``smooth`` > 0 adds the photorealistic smoothing of Li et al. 2018 (§3.2, its guided-filter
approximation, ``ops/guided.py``) on the whole decoded image: for photographs as styles. Deviation: the
paper pairs it with PhotoWCT's unpooling decoders; ours upsample, so fine structure relies on the filter.
"""

from __future__ import annotations

import torch

from ...engine import inference
from ...errors import OptionError
from ...losses import resize_mask
from ...ops import wct
from ...ops.guided import guided_filter, strip_pixels_for
from ..arbitrary import ArbitraryStyle
from .config import DEFAULT_MODEL, WCTConfig
from .model import LAYERS, WCTNet


class WCT(ArbitraryStyle):
    """Whitening and colouring transforms at five VGG levels, decoded by reconstruction decoders (Li 2017)."""

    METHOD = "wct"
    DEFAULT_MODEL = DEFAULT_MODEL
    LAYERS = tuple(LAYERS[k] for k in (5, 4, 3, 2, 1))  # the styles are encoded once, to relu5_1
    ALIGN = 16  # relu5_1: four 2x poolings
    OWN_CODE = False  # alpha blends with the photo's features themselves (eq. 4): WCT(c, c) is c
    config_class = WCTConfig

    def build(self, header: dict) -> torch.nn.Module:
        return WCTNet(header["arch"])

    # eps of the smoothing's guided filter, in units of the photo's variance (a standard deviation of 0.01):
    # small, so the result follows the photo's edges closely. Our choice: FastPhotoStyle passes eps 1e-3 to
    # OpenCV on 8-bit images, whose scale we did not verify.
    SMOOTH_EPS = 1e-4

    def finish(self, out: torch.Tensor, photo: torch.Tensor, cfg) -> torch.Tensor:
        if not cfg.smooth:
            return out
        # The decoders' activations are freed by now: the filter's strips get their --max-memory budget.
        strip = strip_pixels_for(inference.activation_budget(out.shape[-2:], cfg.max_memory), out.shape[-1])
        return guided_filter(photo.float(), out.float(), cfg.smooth, self.SMOOTH_EPS,
                             strip_pixels=strip).clamp(0, 1).to(out.dtype)

    def stages(self, net, cfg) -> list[tuple[str, ...]]:
        wanted = [LAYERS[k] for k in sorted(cfg.levels, reverse=True)]
        missing = [layer for layer in wanted if layer not in net.layers]
        if missing:
            have = " ".join(str(k) for k, layer in LAYERS.items() if layer in net.layers)
            raise OptionError(f"The model '{cfg.model}' has no decoder for {', '.join(missing)}; choose "
                              f"--levels among those it has ({have}).")
        return [(layer,) for layer in wanted]

    def decoder(self, net, layers):
        return net.decoder(layers[0])

    def style_code(self, net, feats, mask=None):
        # {layer: (mean (C,1), covariance^1/2 (C,C))}: every level's colouring, from one encoding; with a style
        # mask, the masked covariance of that region of the painting (ops.wct.moments)
        return {layer: wct.colouring(f, None if mask is None else resize_mask(mask.float(), f.shape[-2:]))
                for layer, f in feats.items()}

    def whole_stats(self, feats, masks):
        (f,) = feats.values()
        return wct.whitening(f) if masks is None else [wct.whitening(f, m) for m in masks]

    def transfer(self, net, feats, codes, weights, masks, whole):
        ((layer, f),) = feats.items()
        a = float(sum(weights[:-1]))  # alpha (the photo's own weight is 1 - alpha)
        if a == 0.0:
            return f.float()
        colours = [c[layer] for c in codes[:-1]]
        if masks is None:
            t = wct.wct(f, whole, colours, weights[:-1])
        else:  # spatial control: each region its own style; the style weights do not apply
            t = wct.region_wct(f, whole, colours, masks)
        return a * t + (1.0 - a) * f.float() if a < 1.0 else t  # eq. 4
