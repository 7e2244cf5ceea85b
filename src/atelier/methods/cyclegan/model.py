"""CycleGAN's networks (nn.Modules only): two generators, two PatchGAN discriminators, two image pools.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks" (ICCV), §4 and appendix 7.2:

* the generator is Johnson et al.'s image transformation network -- c7s1-64, d128, d256, 9 residual blocks
  R256, u128, u64, c7s1-3 -- with instance normalisation and reflection padding. atelier has that network
  already (``methods/johnson/model.py``, ``TransformerNet``), so a CycleGAN generator *is* a TransformerNet of
  ``kernel`` 7, and it runs through johnson's inference path (tiles with frozen statistics, compile, ONNX).
  Deviations, deliberate: upsampling by a bilinear resize + 3x3 convolution instead of the paper's
  fractionally-strided convolutions (Odena, Dumoulin & Olah 2016: no checkerboard artefacts); instance norm
  with a learned scale and shift (the reference implementation's has none: a superset, 2 C parameters per
  layer); images in [0, 1] at the input and output ((tanh + 1) / 2) instead of [-1, 1] -- the losses are
  computed on 2x - 1, so lambda = 10 means what it means in the paper;
* the discriminator is the 70x70 PatchGAN (Isola et al. 2017): C64-C128-C256-C512 of 4x4 convolutions,
  LeakyReLU 0.2, instance norm from the second on, then a 4x4 convolution to one channel: each output
  value judges a 70x70 patch of the input;
* the history pool (Shrivastava et al. 2017): the discriminators see, half the time, an image generated at
  an earlier step, from a buffer of 50 (``ImagePool``; its contents are buffers, so a checkpoint holds them);
* weights drawn from N(0, 0.02) (the reference implementation's ``init_type='normal'``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..johnson.model import TransformerNet

# Generator sizes: the paper's (ngf 64, 9 residual blocks at 256 px; 11.4 M parameters) and a compact one
# sized for a CPU (ngf 16, 6 blocks: ~0.5 M parameters; benchmarks/results/cyclegan.md). The discriminator's
# width (ndf) goes with the size.
SIZES: dict[str, dict] = {
    "paper": {"ngf": 64, "blocks": 9, "ndf": 64},
    "compact": {"ngf": 16, "blocks": 6, "ndf": 32},
}


def generator_arch(ngf: int, blocks: int) -> dict:
    """The ``arch`` of a CycleGAN generator (a TransformerNet): ngf, 2 ngf, 4 ngf channels, ``blocks``
    residual blocks, 7x7 outer convolutions, bilinear upsampling."""
    return {"channels": [ngf, 2 * ngf, 4 * ngf], "residual_blocks": blocks, "padding": "reflect",
            "upsample": "bilinear", "kernel": 7}


def init_weights(net: nn.Module, std: float = 0.02) -> nn.Module:
    """Convolutions (and linear layers) ~ N(0, std), biases 0 (the reference code); norms keep 1 and 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


class GeneratorPair(nn.Module):
    """The two generators of a model file: ``a2b`` (G: X -> Y) and ``b2a`` (F: Y -> X), one architecture.
    The model file's tensors are ``a2b.*`` and ``b2a.*``."""

    def __init__(self, arch: dict):
        super().__init__()
        self.arch = dict(arch)
        self.a2b = TransformerNet.from_arch(arch)
        self.b2a = TransformerNet.from_arch(arch)


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: (B,3,H,W) in [-1,1] -> (B,1,H/8-2,W/8-2) real/fake scores (no sigmoid: LSGAN).

    Three stride-2 4x4 convolutions (ndf, 2 ndf, 4 ndf), one stride-1 (8 ndf), one to a channel; zero
    padding 1 as in Isola et al. 2017; no norm on the first layer. Receptive field 70 px.
    """

    def __init__(self, ndf: int = 64, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = ndf
        for i in range(1, layers + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            mods += [nn.Conv2d(c, out, 4, stride, 1), nn.InstanceNorm2d(out, affine=True),
                     nn.LeakyReLU(0.2, inplace=True)]
            c = out
        mods.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ImagePool(nn.Module):
    """The history of generated images a discriminator is shown (Shrivastava et al. 2017; Zhu 2017 §4).

    ``query(fakes)`` returns, per image: while the pool fills, the image itself (and stores it); then with
    probability 1/2 a stored image (replaced by the new one), else the new image. The draws come from the
    ``generator`` given (the trainer's, saved in the checkpoint). The pool is two buffers (``images``
    (size,3,S,S), ``count``), so checkpoints hold it. ``query`` only *plans* its writes; ``commit()``
    applies them, called by the optimizer's step hook: a step abandoned by Ctrl-C leaves the pool as the
    checkpoint of the last applied step expects (``engine.train`` undoes the step's random draws).
    """

    def __init__(self, size: int, crop: int):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, 3, crop, crop))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        self._pending: tuple[dict[int, torch.Tensor], int] | None = None

    def query(self, fakes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,3,S,S) detached generated images -> (B,3,S,S) to show the discriminator."""
        if self.size == 0:
            return fakes
        writes: dict[int, torch.Tensor] = {}
        n = int(self.count)
        out = []
        for img in fakes:
            if n < self.size:
                writes[n] = img
                n += 1
                out.append(img)
            elif float(torch.rand((), generator=generator)) < 0.5:
                i = int(torch.randint(self.size, (), generator=generator))
                out.append(writes.get(i, self.images[i]).clone())
                writes[i] = img
            else:
                out.append(img)
        self._pending = (writes, n)
        return torch.stack(out)

    @torch.no_grad()
    def commit(self) -> None:
        """Apply the writes of the last ``query`` (once)."""
        if self._pending is None:
            return
        writes, n = self._pending
        for i, img in writes.items():
            self.images[i].copy_(img)
        self.count.fill_(n)
        self._pending = None


class CycleGANTrainer(nn.Module):
    """Everything a training step changes: generators (``gen.a2b``, ``gen.b2a``), discriminators (``d_a``
    judges domain A images, ``d_b`` domain B) and the two pools (of generated A and generated B images)."""

    def __init__(self, arch: dict, ndf: int, pool_size: int, crop: int):
        super().__init__()
        self.arch = dict(arch)
        self.gen = init_weights(GeneratorPair(arch))
        self.d_a = init_weights(PatchDiscriminator(ndf))
        self.d_b = init_weights(PatchDiscriminator(ndf))
        self.pool_a = ImagePool(pool_size, crop)
        self.pool_b = ImagePool(pool_size, crop)

    def commit(self) -> None:
        self.pool_a.commit()
        self.pool_b.commit()
