"""SANet's network (nn.Modules only): style-attentional modules and a decoder, trained together.

Park & Lee 2019, "Arbitrary Style Transfer with Style-Attentional Networks", §3.1: the fixed VGG-19
encoder (``atelier.features``), the attention transform at relu4_1 and relu5_1 (``ops/attention.py``) and
a decoder that mirrors the encoder to relu4_1 -- the same architecture as AdaIN's (``methods/adain/model.py``),
trained with its own weights. ``ARCHS`` name the decoder sizes (``paper``, ``compact``); the attention
modules always have 512 channels (VGG's).
"""

from __future__ import annotations

from torch import nn

from ...ops.attention import AttentionTransform
from ..adain.model import ARCHS, IN_CHANNELS, Decoder

__all__ = ["ARCHS", "SANetNet"]


class SANetNet(nn.Module):
    """``transform`` (the attention modules and their merge) and ``decoder``, saved in one model file."""

    def __init__(self, arch: dict | str = "paper"):
        super().__init__()
        self.transform = AttentionTransform(IN_CHANNELS)
        self.decoder = Decoder.from_arch(arch)
        self.arch = self.decoder.arch
