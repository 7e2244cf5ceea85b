"""The decoder of Huang & Belongie 2017 (nn.Modules only), also SANet's (Park & Lee 2019 §3.1).

Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", §6.1:
the decoder mirrors VGG-19 up to relu4_1, pooling replaced by nearest-neighbour upsampling, reflection
padding at every convolution (no border artefacts), no normalisation layers, ReLU after every convolution
but the last. ``paper``: 512->256, up, 3x 256->256, 256->128, up, 128->128, 128->64, up, 64->64, 64->3
(3.5 M parameters).

Deviations (deliberate):
* ``compact`` (512->128, up, 128->128, 128->64, up, 64->64, 64->32, up, 32->32, 32->3; 0.87 M parameters)
  has a quarter of the channels after the first layer and one 256-channel convolution less: it trains in a
  few hours on 2 CPU cores and decodes 512 px in a fraction of the paper's time;
* the output is not clamped inside the network (the papers train on unclamped outputs too); inference
  clamps to [0, 1];
* inputs whose feature map does not upsample back to the image size exactly (sizes not multiples of 8:
  VGG's pooling floors) are resized to the requested ``size`` at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# channels: output channels of each stage's convolutions, deepest first; each stage ends with an upsampling
# except the last. The input has 512 channels (relu4_1).
ARCHS: dict[str, dict] = {
    "paper": {"stages": [[256], [256, 256, 256, 128], [128, 64], [64, 3]]},
    "compact": {"stages": [[128], [128, 64], [64, 32], [32, 3]]},
}
IN_CHANNELS = 512  # relu4_1
# The paper's nearest-neighbour upsampling, or bilinear: nearest copies each feature into a 2x2 block three
# times over, an 8x8 lattice the convolutions after it must learn to hide (measured: the bundled compact
# decoder prints it even on the photo's own features, benchmarks/results/grid_diagnosis.md). Bilinear keeps
# the parameter shapes, so a nearest decoder's weights are a starting point (--init).
UPSAMPLING = {"nearest": {}, "bilinear": {"align_corners": False}}


def _conv(c_in: int, c_out: int, relu: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class Decoder(nn.Module):
    """relu4_1-like features (B,512,h,w) -> RGB (B,3,8h,8w) (or ``size``), roughly in [0,1].

    With ``in_channels`` and as many stages as the layer has poolings plus one, it decodes any VGG layer
    (the wct method's decoders: relu1_1 (64 channels, 1 stage) ... relu5_1 (512, 5 stages))."""

    def __init__(self, stages=ARCHS["paper"]["stages"], upsample: str = "nearest", in_channels: int = IN_CHANNELS,
                 in_scale: float = 1.0):
        super().__init__()
        if upsample not in UPSAMPLING:
            raise ValueError(f"unknown upsampling {upsample!r}; choose one of {', '.join(UPSAMPLING)}")
        self.arch = {"stages": [list(map(int, s)) for s in stages]}
        if upsample != "nearest":  # files written before this option have no key: nearest
            self.arch["upsample"] = upsample
        if in_channels != IN_CHANNELS:  # likewise: no key means relu4_1's 512
            self.arch["in_channels"] = int(in_channels)
        # A fixed factor on the input features (WCT's shallow decoders: ~1/rms of the layer's features, so a
        # freshly initialised decoder starts near the image's scale); no key means 1, as AdaIN's.
        self.in_scale = float(in_scale)
        if self.in_scale != 1.0:
            self.arch["in_scale"] = self.in_scale
        layers: list[nn.Module] = []
        c = in_channels
        for i, stage in enumerate(self.arch["stages"]):
            if i > 0:
                layers.append(nn.Upsample(scale_factor=2, mode=upsample, **UPSAMPLING[upsample]))
            for j, c_out in enumerate(stage):
                last = i == len(self.arch["stages"]) - 1 and j == len(stage) - 1
                layers += _conv(c, c_out, relu=not last)
                c = c_out
        if c != 3:
            raise ValueError("the decoder's last stage must end with 3 channels")
        self.layers = nn.Sequential(*layers)

    @classmethod
    def from_arch(cls, arch: dict | str) -> Decoder:
        """Build from a name in ``ARCHS`` or the ``arch`` dict stored in a model file."""
        if isinstance(arch, str):
            if arch not in ARCHS:
                raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
            arch = ARCHS[arch]
        return cls(arch["stages"], arch.get("upsample", "nearest"), int(arch.get("in_channels", IN_CHANNELS)),
                   float(arch.get("in_scale", 1.0)))

    def forward(self, feats: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        # Reflection padding needs maps of at least 2 pixels: tiny inputs are replicated up to that.
        if min(feats.shape[-2:]) < 2:
            feats = F.pad(feats, (0, max(0, 2 - feats.shape[-1]), 0, max(0, 2 - feats.shape[-2])),
                          mode="replicate")
        y = self.layers(feats * self.in_scale if self.in_scale != 1.0 else feats)
        if size is not None and tuple(y.shape[-2:]) != tuple(size):
            y = F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)
        return y
