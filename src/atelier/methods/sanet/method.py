"""SANet: any style in one pass with style attention (Park & Lee 2019, "Arbitrary Style Transfer with
Style-Attentional Networks", CVPR).

The photo and the painting are encoded by VGG-19 to relu4_1 and relu5_1 (``atelier.features``); at each
layer every position of the photo attends over all positions of the painting (§3.2, ``ops/attention.py``);
the two outputs are merged at relu4_1's size (§3.3) and decoded by the trained decoder. The user controls
(alpha, style interpolation, colour and spatial control, §4.3) and tiled inference are shared with AdaIN in
``methods/arbitrary.py``; there, alpha mixes in the attention of the photo on itself, which the identity
losses (§3.4) train to reproduce the photo.
"""

from __future__ import annotations

import torch

from ...losses import mean_std, resize_mask
from ..arbitrary import ArbitraryStyle
from .config import DEFAULT_MODEL, SANetConfig
from .model import SANetNet

LAYERS = ("relu4_1", "relu5_1")


def masked_keys(f: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``--style-mask`` for style attention: the painting's features (1,C,h,w) at the positions where the
    mask, resized to this layer, is at least 0.5 (at least its strongest position), as a (1,C,1,N) map. The
    attention (eq. 2) then has only that region's keys and values to choose from, and ``Norm`` measures the
    region's statistics (the region stands for the painting)."""
    m = resize_mask(mask.float(), f.shape[-2:]).flatten()  # (h*w,)
    keep = m >= 0.5
    if not bool(keep.any()):  # a thin region at relu5_1's stride: its strongest positions
        keep = m >= m.max()
    return f.flatten(2)[:, :, keep].unsqueeze(2)


class SANet(ArbitraryStyle):
    """Any style in one pass: style-attentional modules and a trained decoder (Park & Lee 2019)."""

    METHOD = "sanet"
    DEFAULT_MODEL = DEFAULT_MODEL
    LAYERS = LAYERS
    ALIGN = 16  # relu5_1: four 2x poolings
    config_class = SANetConfig  # the spec sets it too; the base class builds defaults from it

    def build(self, header: dict) -> torch.nn.Module:
        return SANetNet(header["arch"])

    def bytes_per_pixel(self, dtype, style_px: int) -> float:
        # Plus the relu4_1 attention matrix: (h/8 * w/8) x (style positions at relu4_1), fp32, and its softmax.
        return super().bytes_per_pixel(dtype, style_px) + style_px / 64 / 64 * 8

    def style_code(self, net, feats, mask=None):
        if mask is None:
            return feats["relu4_1"], feats["relu5_1"]
        return masked_keys(feats["relu4_1"], mask), masked_keys(feats["relu5_1"], mask)

    def whole_stats(self, feats, masks):
        return mean_std(feats["relu4_1"]), mean_std(feats["relu5_1"])

    def transfer(self, net, feats, codes, weights, masks, whole):
        c4, c5 = feats["relu4_1"], feats["relu5_1"]
        outs = [None if w == 0.0 else net.transform(c4, s4, c5, s5, content_stats=whole).float()
                for (s4, s5), w in zip(codes, weights)]
        if masks is None:
            return sum(w * o for w, o in zip(weights, outs) if o is not None)
        # Spatial control: region k gets alpha T(c, s_k) + (1 - alpha) T(c, c); uncovered positions T(c, c).
        own, a = outs[-1], 1.0 - weights[-1]  # a = alpha
        if own is None:  # alpha == 1: T(c, c) is still needed where no mask covers
            own = net.transform(c4, codes[-1][0], c5, codes[-1][1], content_stats=whole).float()
        covered = sum(masks)
        scale = 1 / covered.clamp_min(1.0)
        out = (1 - a * covered.clamp(0, 1)) * own
        for k in range(len(masks)):
            if outs[k] is None:
                outs[k] = net.transform(c4, codes[k][0], c5, codes[k][1], content_stats=whole).float()
            out = out + a * masks[k] * scale * outs[k]
        return out
