"""CUT inference: the one generator (A -> B), run as johnson runs its network (Park et al. 2020).

The generator is johnson's ``TransformerNet`` (7x7 outer convolutions), so everything but loading it --
tiles with frozen instance-norm statistics, the memory budget, compile, onnxruntime -- is
:class:`~atelier.methods.johnson.method.Johnson`'s.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...engine import inference
from ...engine.checkpoint import ModelCache
from ...engine.compiled import Compiled
from ..johnson.method import Johnson, load_onnx
from ..johnson.model import TransformerNet
from .config import CUTConfig

_COMPILED = ModelCache()


class CUT(Johnson):
    """Translate an image with a trained CUT/FastCUT generator."""

    CARD_KEYS = ("domains", "steps", "training_seconds", "size", "crop")

    def __init__(self, config: CUTConfig | None = None):
        super().__init__(config or CUTConfig())

    def load(self, path: Path, backend: str, device: torch.device, dtype: torch.dtype, cfg):
        if backend == "onnx":
            net = load_onnx(path)
            return net, net.header, None
        net, header = inference.load_network(path, kind="cut", build=lambda h: TransformerNet.from_arch(h["arch"]),
                                             device=device, dtype=dtype)
        return net, header, _COMPILED.get(id(net), lambda: Compiled(net, device))
