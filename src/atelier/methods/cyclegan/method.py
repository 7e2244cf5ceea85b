"""CycleGAN inference: one of the model's two generators, run as johnson runs its network.

Zhu, Park, Isola & Efros 2017: a trained CycleGAN is two generators, G: A -> B and F: B -> A
(``model.GeneratorPair``: ``a2b``, ``b2a``). Each is a ``TransformerNet`` (Johnson et al.'s network with 7x7
outer convolutions), so everything after choosing it -- resizing, tiles with the instance norms' statistics
frozen from a whole-image pass, the memory budget, torch.compile, onnxruntime for exports, colour
preservation -- is :class:`~atelier.methods.johnson.method.Johnson`'s, unchanged. An .onnx export holds one
direction (``atelier export --direction``); asking it for the other is refused.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...engine import inference
from ...engine.checkpoint import ModelCache
from ...engine.compiled import Compiled
from ...errors import OptionError
from ..johnson.method import Johnson, load_onnx
from .config import CycleGANConfig
from .model import GeneratorPair

KIND = "cyclegan"
_COMPILED = ModelCache()  # the Compiled wrapper of each cached generator, by its id (as johnson's)


def load_pair(path: Path, device: torch.device, dtype: torch.dtype) -> tuple[GeneratorPair, dict]:
    """Both generators of a cyclegan model file, eval mode on ``device``/``dtype``; cached."""
    return inference.load_network(path, kind=KIND, build=lambda h: GeneratorPair(h["arch"]), device=device,
                                  dtype=dtype)


class CycleGAN(Johnson):
    """Translate an image with one generator of a trained CycleGAN (Zhu et al. 2017)."""

    CARD_KEYS = ("domains", "steps", "training_seconds", "size", "crop")

    def __init__(self, config: CycleGANConfig | None = None):
        super().__init__(config or CycleGANConfig())

    def load(self, path: Path, backend: str, device: torch.device, dtype: torch.dtype, cfg):
        if backend == "onnx":
            net = load_onnx(path)
            exported = net.header.get("direction", "a2b")
            if exported != cfg.direction:
                raise OptionError(f"'{path.name}' is the {exported} generator only; export the {cfg.direction} "
                                  f"one with 'atelier export MODEL --direction {cfg.direction}'.")
            return net, net.header, None
        pair, header = load_pair(path, device, dtype)
        net = getattr(pair, cfg.direction)
        return net, header, _COMPILED.get(id(net), lambda: Compiled(net, device))

    def model_extra(self, cfg, backend: str, header: dict) -> dict:
        return {"backend": backend, "direction": cfg.direction}
