"""Configuration of the efros_leung method (torch-free; read through ``spec.py``).

Efros & Leung 1999, "Texture Synthesis by Non-parametric Sampling" (ICCV): §2.1 (the algorithm and its
parameters), §2.2 (window size), §3 (hole filling).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config
from ...options import option as _f


@dataclass
class EfrosLeungConfig(Config):
    window: int = _f(
        11, "Side in pixels of the square neighbourhood matched around each new pixel (odd): about the size of "
        "the texture's largest regular element; larger keeps more structure and runs slower.",
        "Efros & Leung 1999 §2.1, §2.2", minimum=3, maximum=41, basic=True,
    )
    epsilon: float = _f(
        0.1, "Every neighbourhood of the sample within (1 + epsilon) x the best distance is a candidate; one is "
        "drawn at random (0: always the best, which copies the sample).", "Efros & Leung 1999 §2.1 (ε = 0.1)",
        minimum=0.0, maximum=10.0,
    )
    max_error: float = _f(
        0.3, "A pixel is filled only if its best match's distance (mean squared difference per channel, "
        "Gaussian-weighted) is under this; when no pixel of the growing front qualifies, the threshold rises by "
        "10 %.", "Efros & Leung 1999 §2.1 (MaxErrThreshold = 0.3)", above=0.0,
    )
    sample_size: int = _f(
        128, "Long side in pixels the sample is resized to before synthesis (its texture elements keep their "
        "size relative to it); 0 keeps the sample's size (slower for large samples).",
        minimum=16, zero="the sample's size", basic=True,
    )
    size: int = _f(
        256, "Hole filling: long side of the photo in pixels (the result has this size); 0 keeps its size.",
        minimum=16, zero="the photo's size", basic=True, texture=False,
    )
    batch: int = _f(
        16, "Pixels of the growing front filled together, each against the image as it was before the batch "
        "(1 is the paper's strict one-at-a-time order; larger is faster).", minimum=1, maximum=4096,
    )

    def validate(self, n_styles: int = 1) -> None:
        if self.window % 2 == 0:
            raise OptionError(f"--window must be odd (a neighbourhood centred on its pixel), not {self.window}.")
