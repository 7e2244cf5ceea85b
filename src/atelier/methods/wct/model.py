"""WCT's decoders (nn.Modules only): one per VGG level, trained only to reconstruct photos.

Li, Fang, Yang, Wang, Lu & Yang 2017, "Universal Style Transfer via Feature Transforms", §3.1: five decoders,
for relu1_1 ... relu5_1 of the fixed VGG-19, each mirroring the encoder up to its layer (nearest upsampling,
reflection padding, no normalisation) and trained to invert it: no style is ever seen in training, so any
painting works. The decoder is AdaIN's (``methods/adain/model.py``) with the layer's channels and one stage
per pooling plus one.

Deviations (deliberate):
* bilinear upsampling, not nearest: nearest prints an 8-px lattice the convolutions must learn to hide
  (measured on AdaIN's decoder, benchmarks/results/grid_diagnosis.md); same parameter shapes either way;
* ``compact`` (the default) halves or quarters the paper's channels after each decoder's first layer and has
  one convolution per stage less, so five decoders train in an hour or two on 2 CPU cores; relu4_1's is
  exactly AdaIN's compact decoder and relu5_1's is one 512-channel stage in front of it, so both can start
  from a trained AdaIN decoder (``--init adain``). ``paper`` mirrors VGG-19 as Li et al. do.
"""

from __future__ import annotations

import torch
from torch import nn

from ..adain.model import ARCHS as ADAIN_ARCHS
from ..adain.model import Decoder

LAYERS = {1: "relu1_1", 2: "relu2_1", 3: "relu3_1", 4: "relu4_1", 5: "relu5_1"}
CHANNELS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}
_C4, _P4 = ADAIN_ARCHS["compact"]["stages"], ADAIN_ARCHS["paper"]["stages"]
# Stages of each decoder, deepest first (each but the last ends with a 2x upsampling).
ARCHS: dict[str, dict[str, list[list[int]]]] = {
    "compact": {"relu1_1": [[3]], "relu2_1": [[64], [32, 3]], "relu3_1": [[128], [64, 64], [32, 3]],
                "relu4_1": _C4, "relu5_1": [[512], *_C4]},
    "paper": {"relu1_1": [[3]], "relu2_1": [[64], [64, 3]], "relu3_1": [[128], [128, 64], [64, 3]],
              "relu4_1": _P4, "relu5_1": [[512], [512, 512, 512, 256], *_P4[1:]]},
}
UPSAMPLE = "bilinear"


def layer_key(layer: str) -> str:
    return layer.replace("relu", "d")  # ModuleDict keys: "d5_1" (a "." is not allowed, digits are)


class WCTNet(nn.Module):
    """``decoders[layer_key(layer)]``: relu features (1,C,h,w) -> RGB, for each trained level."""

    def __init__(self, arch: dict | str = "compact", levels=(5, 4, 3, 2, 1)):
        super().__init__()
        if isinstance(arch, str):
            if arch not in ARCHS:
                raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
            arch = {"decoders": {LAYERS[k]: {"stages": ARCHS[arch][LAYERS[k]], "upsample": UPSAMPLE,
                                             "in_channels": CHANNELS[LAYERS[k]]} for k in sorted(levels)}}
        self.decoders = nn.ModuleDict({layer_key(layer): Decoder.from_arch(a)
                                       for layer, a in arch["decoders"].items()})
        self.arch = {"decoders": {layer: self.decoders[layer_key(layer)].arch for layer in arch["decoders"]}}

    @property
    def layers(self) -> list[str]:
        return list(self.arch["decoders"])

    def decoder(self, layer: str) -> Decoder:
        return self.decoders[layer_key(layer)]

    def init_from_adain(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy an AdaIN decoder's weights (its state dict, keys ``decoder.layers.N.*``) into the relu4_1
        decoder and the matching tail of the relu5_1 decoder, where the shapes agree. Returns the layers
        started so."""
        src = {k.removeprefix("decoder."): v for k, v in state.items()}
        n_src = 1 + max(int(k.split(".")[1]) for k in src)
        started = []
        for layer in ("relu4_1", "relu5_1"):
            if layer not in self.layers:
                continue
            dst = self.decoder(layer)
            shift = len(dst.layers) - n_src  # relu5_1's extra stage in front: the tails line up
            mapped = {f"layers.{int(k.split('.')[1]) + shift}.{k.split('.', 2)[2]}": v for k, v in src.items()}
            own = dst.state_dict()
            if shift < 0 or any(k not in own or own[k].shape != v.shape for k, v in mapped.items()):
                continue
            dst.load_state_dict({**own, **mapped})
            started.append(layer)
        return started
