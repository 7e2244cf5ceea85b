"""AdaIN: any style in one pass (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with
Adaptive Instance Normalization", ICCV).

The photo and the painting are encoded by VGG-19 up to relu4_1 (``atelier.features``), the photo's
features are given the painting's channel means and standard deviations (AdaIN, eq. 8; ``ops/adain.py``)
and a trained decoder (``model.Decoder``, trained by ``train.py``) maps the result back to an image (§6.1).
The user controls of §7.1 (alpha, style interpolation, colour and spatial control) and tiled inference are
shared with SANet in ``methods/arbitrary.py``, whose docstring explains how tiles share the statistics of
the whole photo.
"""

from __future__ import annotations

import torch

from ...losses import mean_std, resize_mask
from ...ops.adain import adain, blend_stats, masked_mean_std, region_adain
from ..arbitrary import ArbitraryStyle
from .config import DEFAULT_MODEL, AdaINConfig
from .model import Decoder


class AdaINNet(torch.nn.Module):
    """What an AdaIN model file holds: the decoder (the encoder is the shared, fixed VGG-19)."""

    def __init__(self, arch: dict | str = "paper"):
        super().__init__()
        self.decoder = Decoder.from_arch(arch)
        self.arch = self.decoder.arch


class AdaIN(ArbitraryStyle):
    """Any style in one pass: adaptive instance normalisation and a trained decoder (Huang 2017)."""

    METHOD = "adain"
    DEFAULT_MODEL = DEFAULT_MODEL
    LAYERS = ("relu4_1",)
    ALIGN = 8  # relu4_1: three 2x poolings
    config_class = AdaINConfig  # the spec sets it too; the base class builds defaults from it

    def build(self, header: dict) -> torch.nn.Module:
        return AdaINNet(header["arch"])

    def style_code(self, net, feats, mask=None):
        f = feats["relu4_1"]  # ((1,512,1,1), (1,512,1,1)): of the whole painting, or of its masked region
        return mean_std(f) if mask is None else masked_mean_std(f, resize_mask(mask.float(), f.shape[-2:]))

    def whole_stats(self, feats, masks):
        f = feats["relu4_1"]
        return mean_std(f) if masks is None else [masked_mean_std(f, m) for m in masks]

    def transfer(self, net, feats, codes, weights, masks, whole):
        f = feats["relu4_1"]
        a = float(sum(weights[:-1]))  # alpha (the photo's own weight is 1 - alpha)
        if a == 0.0:
            return f.float()
        if masks is None:
            t = adain(f, blend_stats(codes[:-1], weights[:-1]), whole)
        else:  # spatial control: each region its own style; the style weights do not apply
            t = region_adain(f, codes[:-1], masks, whole)
        return a * t + (1.0 - a) * f.float() if a < 1.0 else t  # eq. 14
