"""Configuration of CUT inference (torch-free): johnson's options; the model holds one generator A -> B."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option as _f
from ..johnson.config import JohnsonConfig

DEFAULT_MODEL = "cut"


@dataclass
class CUTConfig(JohnsonConfig):
    model: str = _f(
        DEFAULT_MODEL, "Trained CUT generator: a bundled or user model's name, or the path of a .safetensors "
        "file from 'atelier train cut' (or its .onnx export).", "Park 2020 §3", metavar="NAME|PATH", basic=True,
    )


TEXT = ("Translate a photo into the look of a collection with a one-sided generator trained by patch-wise "
        "contrastive learning (CUT/FastCUT, Park et al. 2020); takes no painting ('atelier models' lists "
        "the trained ones; train your own with 'atelier train cut').")
