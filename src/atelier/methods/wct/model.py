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
# Fixed input factors, ~1/rms of each layer's features on photos at 256 px (Caffe 0-255 input; measured on 12
# registry photos: relu1_1 46, relu2_1 194, relu3_1 251). Deviation from Li 2017, whose decoders take raw
# features: without it a new relu1_1 decoder starts ~30x off the image's scale and Adam at lr 1e-4 did not
# recover (relu1_1 diverged, relu2_1 died; benchmarks/results/code_notes.md). relu4_1 and relu5_1 keep 1:
# they start from AdaIN's decoder, trained on raw relu4_1 features (--init adain).
IN_SCALE = {"relu1_1": 1 / 50, "relu2_1": 1 / 200, "relu3_1": 1 / 250, "relu4_1": 1.0, "relu5_1": 1.0}


def decoder_arch(arch: str, layer: str) -> dict:
    """The arch dict of one level's decoder (as stored in a model file)."""
    return {"stages": ARCHS[arch][layer], "upsample": UPSAMPLE, "in_channels": CHANNELS[layer],
            "in_scale": IN_SCALE[layer]}


def layer_key(layer: str) -> str:
    return layer.replace("relu", "d")  # ModuleDict keys: "d5_1" (a "." is not allowed, digits are)


class WCTNet(nn.Module):
    """``decoders[layer_key(layer)]``: relu features (1,C,h,w) -> RGB, for each trained level."""

    def __init__(self, arch: dict | str = "compact", levels=(5, 4, 3, 2, 1)):
        super().__init__()
        if isinstance(arch, str):
            if arch not in ARCHS:
                raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
            arch = {"decoders": {LAYERS[k]: decoder_arch(arch, LAYERS[k]) for k in sorted(levels)}}
        self.decoders = nn.ModuleDict({layer_key(layer): Decoder.from_arch(a)
                                       for layer, a in arch["decoders"].items()})
        self.arch = {"decoders": {layer: self.decoders[layer_key(layer)].arch for layer in arch["decoders"]}}

    @property
    def layers(self) -> list[str]:
        return list(self.arch["decoders"])

    def decoder(self, layer: str) -> Decoder:
        return self.decoders[layer_key(layer)]

    def init_from_wct(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy the decoders of another WCT model (its state dict) whose level is here and whose parameter
        shapes agree; the others keep their initial weights. Returns the layers started so."""
        started = []
        for layer in self.layers:
            prefix = f"decoders.{layer_key(layer)}."
            own = self.decoder(layer).state_dict()
            theirs = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            if theirs.keys() == own.keys() and all(own[k].shape == v.shape for k, v in theirs.items()):
                self.decoder(layer).load_state_dict(theirs)
                started.append(layer)
        return started

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
