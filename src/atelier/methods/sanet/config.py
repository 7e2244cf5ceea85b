"""Configuration of the SANet method (inference): AdaIN's options with SANet's own decoder. Torch-free.

Park & Lee 2019, "Arbitrary Style Transfer with Style-Attentional Networks" (CVPR): §3 (network), §4.3
(content-style trade-off, style interpolation, colour and spatial control, as in AdaIN).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option as _f
from ..adain.config import AdaINConfig

DEFAULT_MODEL = "sanet"


@dataclass
class SANetConfig(AdaINConfig):
    model: str = _f(
        DEFAULT_MODEL, "Trained attention modules and decoder: a bundled or user model's name, or the path of "
        "a .safetensors file from 'atelier train sanet' (run 'atelier models' to list them).",
        "Park 2019 §3.1", metavar="NAME|PATH", basic=True,
    )
    alpha: float = _f(
        1.0, "Content-style trade-off: 0 reconstructs the photo, 1 is the full style; in between "
        "interpolates the attention output with the content features before the decoder.",
        "Park 2019 §4.3", minimum=0.0, maximum=1.0, basic=True,
    )
    style_weights: list[float] | None = _f(
        None, "Interpolation weights of several styles, one per style image (normalised to sum to 1).",
        "Park 2019 §4.3 (style interpolation)", minimum=0,
    )


TEXT = ("Any style in one pass: style-attentional modules at relu4_1 and relu5_1 and a trained decoder "
        "(Park & Lee 2019).")
