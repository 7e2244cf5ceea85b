"""Training configuration of SANet's attention modules and decoder (no torch import).

Park & Lee 2019, "Arbitrary Style Transfer with Style-Attentional Networks", §3.4 and §4.1: content loss on
mean-variance normalised relu4_1 and relu5_1 features, style loss on channel means and standard deviations at
relu1_1 ... relu5_1, and two identity losses (an image stylised with itself must come back: in pixels,
lambda_identity1 = 50, and in VGG features, lambda_identity2 = 1); lambda_c = 1, lambda_s = 3 (eq. 4). The
data, crops and optimiser are AdaIN's (``methods/adain/train_config.py``), and so are the rules across fields
(``DecoderTrainConfig.validate``); the ranges of the fields below are declared on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option as _f
from ..adain.train_config import DecoderTrainConfig

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass
class SANetTrainConfig(DecoderTrainConfig):
    style_weight: float = _f(3.0, "Weight of the style loss (channel means and standard deviations, relu1_1 "
                             "to relu5_1).", "Park 2019 eq. 4 (lambda_s)", minimum=0)
    content_weight: float = _f(1.0, "Weight of the content loss (normalised relu4_1 and relu5_1 features).",
                               "Park 2019 eq. 4 (lambda_c)", minimum=0)
    identity1_weight: float = _f(50.0, "Weight of the pixel identity loss (photo and painting stylised with "
                                 "themselves must come back).", "Park 2019 eq. 7 (lambda_identity1)",
                                 minimum=0)
    identity2_weight: float = _f(1.0, "Weight of the feature identity loss (the same, compared in VGG "
                                 "features).", "Park 2019 eq. 7 (lambda_identity2)", minimum=0)
