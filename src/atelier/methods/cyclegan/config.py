"""Configuration of CycleGAN inference (torch-free; read by ``atelier.methods`` through ``spec.py``).

A CycleGAN model file holds two generators, A -> B and B -> A (Zhu et al. 2017, G and F); ``direction``
chooses one. Everything else is johnson's: a generator is a feed-forward network of the same family, run by
the same inference path (tiles with frozen instance-norm statistics, memory budget, compile, ONNX).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option as _f
from ..johnson.config import JohnsonConfig

# The model used when --model is not given: a bundled model of this name (weights/cyclegan/manifest.json)
# or the user's $ATELIER_HOME/models/cyclegan.safetensors.
DEFAULT_MODEL = "cyclegan"
DIRECTIONS = ("a2b", "b2a")


@dataclass
class CycleGANConfig(JohnsonConfig):
    model: str = _f(
        DEFAULT_MODEL, "Trained CycleGAN: a bundled or user model's name, or the path of a .safetensors file from "
        "'atelier train cyclegan' (or an .onnx export of one direction).", "Zhu 2017 §3",
        metavar="NAME|PATH", basic=True,
    )
    direction: str = _f(
        "a2b", "Which generator to run: 'a2b' turns domain A images (the --domain-a folder of the training, "
        "e.g. photos) into domain B (e.g. paintings); 'b2a' the other way.", "Zhu 2017 §3 (G and F)",
        choices=DIRECTIONS, basic=True,
    )


TEXT = ("Translate a photo into the look of a whole collection (or back) with one of CycleGAN's two trained "
        "generators (Zhu et al. 2017); takes no painting ('atelier models' lists "
        "the trained ones; train your own with 'atelier train cyclegan').")
