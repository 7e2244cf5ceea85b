"""The image transformation network of Johnson, Alahi & Fei-Fei 2016 (nn.Modules only).

Johnson et al. 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", supplementary
Table 1: a 9x9 convolution, two stride-2 3x3 convolutions (down to 1/4), five residual blocks, two
upsampling stages and a 9x9 convolution back to RGB. Deliberate deviations, as in the paper's follow-ups:

* instance normalisation instead of batch normalisation (Ulyanov, Vedaldi & Lempitsky 2016, "Instance
  Normalization: The Missing Ingredient for Fast Stylization"): style transfer should not depend on the
  other images of a batch, and it trains faster and cleaner;
* nearest-neighbour (or, with ``upsample="bilinear"``, bilinear) upsampling followed by a convolution
  instead of fractionally-strided convolutions (Odena, Dumoulin & Olah 2016, "Deconvolution and
  Checkerboard Artifacts"); nearest still leaves a 4-px lattice the convolutions must learn to hide (the
  grid measure of the models trained with it, benchmarks/results/johnson_grid.md), bilinear does not;
* reflection padding at every convolution instead of the paper's zero padding of the input (no border
  artefacts);
* the output is ``(tanh(y) + 1) / 2``, an RGB image in [0, 1] (the paper scaled tanh to 0..255).

The same network, with 7x7 outer convolutions (``kernel``), is CycleGAN's generator (Zhu et al. 2017,
appendix 7.2, after Johnson et al.): ``methods/cyclegan/model.py``.

``ARCHS`` names the two sizes we train: ``paper`` (32/64/128 channels, 5 residual blocks, 1.68 M
parameters) and ``compact`` (16/32/64, 3 blocks, 0.28 M; measured 0.085 s fp32 at 512 px on 2 cores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ARCHS: dict[str, dict] = {
    "paper": {"channels": [32, 64, 128], "residual_blocks": 5, "padding": "reflect"},
    "compact": {"channels": [16, 32, 64], "residual_blocks": 3, "padding": "reflect"},
}


class ConvLayer(nn.Sequential):
    """Padding + convolution (+ instance norm + ReLU unless ``last``): shape (B,Cin,H,W) -> (B,Cout,H/s,W/s)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *, padding: str = "reflect",
                 last: bool = False):
        pad = nn.ReflectionPad2d(kernel // 2) if padding == "reflect" else nn.ZeroPad2d(kernel // 2)
        layers: list[nn.Module] = [pad, nn.Conv2d(c_in, c_out, kernel, stride)]
        if not last:
            layers += [nn.InstanceNorm2d(c_out, affine=True), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + (conv-IN-ReLU-conv-IN)(x); no ReLU after the sum (Gross & Wilber 2016, as Johnson et al. use)."""

    def __init__(self, channels: int, *, padding: str = "reflect"):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3, padding=padding),
            nn.ReflectionPad2d(1) if padding == "reflect" else nn.ZeroPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


UPSAMPLING = ("nearest", "bilinear")


class Upsample(nn.Module):
    """Nearest or bilinear x2, then a 3x3 conv-IN-ReLU (no checkerboard pattern, Odena et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, *, padding: str = "reflect", mode: str = "nearest"):
        super().__init__()
        self.conv = ConvLayer(c_in, c_out, 3, padding=padding)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = {"align_corners": False} if self.mode == "bilinear" else {}
        return self.conv(F.interpolate(x, scale_factor=2, mode=self.mode, **extra))


class TransformerNet(nn.Module):
    """RGB in [0,1] (B,3,H,W) -> stylised RGB in [0,1] (B,3,H,W), any H and W.

    The network works at 1/4 resolution in its middle, so inputs are reflection-padded to a multiple of 4
    and the output is cropped back: every size round-trips exactly.
    """

    def __init__(self, channels=(32, 64, 128), residual_blocks: int = 5, padding: str = "reflect",
                 upsample: str = "nearest", kernel: int = 9):
        super().__init__()
        if padding not in ("reflect", "zeros"):
            raise ValueError(f"padding must be 'reflect' or 'zeros', not {padding!r}")
        if upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, not {upsample!r}")
        c1, c2, c3 = channels
        self.arch = {"channels": [c1, c2, c3], "residual_blocks": residual_blocks, "padding": padding}
        if upsample != "nearest":  # files written before this option have no key: nearest
            self.arch["upsample"] = upsample
        if kernel != 9:  # the outer convolutions' size; files without the key: Johnson's 9x9 (CycleGAN: 7x7)
            self.arch["kernel"] = kernel
        self.down = nn.Sequential(
            ConvLayer(3, c1, kernel, padding=padding),  # (B,c1,H,W)
            ConvLayer(c1, c2, 3, 2, padding=padding),  # (B,c2,H/2,W/2)
            ConvLayer(c2, c3, 3, 2, padding=padding),  # (B,c3,H/4,W/4)
        )
        self.res = nn.Sequential(*[ResidualBlock(c3, padding=padding) for _ in range(residual_blocks)])
        self.up = nn.Sequential(
            Upsample(c3, c2, padding=padding, mode=upsample),  # (B,c2,H/2,W/2)
            Upsample(c2, c1, padding=padding, mode=upsample),  # (B,c1,H,W)
            ConvLayer(c1, 3, kernel, padding=padding, last=True),  # (B,3,H,W)
        )

    @classmethod
    def from_arch(cls, arch: dict | str) -> TransformerNet:
        """Build from a name in ``ARCHS`` or the ``arch`` dict stored in a model file."""
        if isinstance(arch, str):
            if arch not in ARCHS:
                raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
            arch = ARCHS[arch]
        return cls(tuple(arch["channels"]), int(arch["residual_blocks"]), arch.get("padding", "reflect"),
                   arch.get("upsample", "nearest"), int(arch.get("kernel", 9)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % 4, -w % 4
        if ph or pw:
            # Reflection needs pad < size; tiny inputs fall back to replication.
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = self.up(self.res(self.down(x)))
        return ((torch.tanh(y) + 1) / 2)[..., :h, :w]
