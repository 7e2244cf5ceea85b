"""Configuration of the Portilla-Simoncelli method: every field typed, defaulted and documented. Torch-free
(read by ``atelier.methods.method_spec`` through ``spec.py``).

Portilla & Simoncelli 2000, "A Parametric Texture Model Based on Joint Statistics of Complex Wavelet
Coefficients" (IJCV 40(1)): the steerable pyramid's statistics and their synthesis; 4 scales, 4
orientations and 7x7 neighbourhoods are the authors' example settings (their textureSynth code, and the
figures of the paper according to plenoptic).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config
from ...options import option as _f

PRESERVE_COLOR = ("none", "luminance", "histogram")


@dataclass
class PortillaSimoncelliConfig(Config):
    size: int = _f(512, "Long side of the stylised image in pixels ('atelier texture' gives the texture's "
                   "own size).", minimum=16, basic=True, texture=False)
    iterations: int = _f(
        300, "Optimisation steps of a texture synthesis (the statistics of the noise start are pulled to "
        "the sample's).", "Portilla 2000 (synthesis)", minimum=1, basic=True,
    )
    stylize_iterations: int = _f(
        30, "Optimisation steps when stylising a photo: it starts from the photo and drifts towards the "
        "painting's statistics, so fewer steps keep more of the photo's structure.", minimum=1, basic=True,
        texture=False,
    )
    n_scales: int = _f(
        4, "Scales of the steerable pyramid (each an octave coarser); images need sides of at least "
        "2^scales x the neighbourhood (7x7: 112 px at 4 scales).", "Portilla 2000 (N = 4)", minimum=1,
        maximum=8,
    )
    n_orientations: int = _f(4, "Orientations of the steerable pyramid's bands at each scale.",
                             "Portilla 2000 (K = 4)", minimum=2, maximum=12)
    spatial_neighbors: int = _f(
        7, "Width Na of the central Na x Na neighbourhood of the auto-correlations (odd).",
        "Portilla 2000 (Na = 7)", minimum=1, maximum=15,
    )
    tolerance: float = _f(
        1e-3, "Stop a stage early when the loss improved by less than this fraction over the last 20 steps "
        "(0 disables).", minimum=0,
    )
    coarse_to_fine: bool = _f(
        False, "Match the coarsest scale's statistics first and add one finer scale per stage (half of the "
        "steps before the last stage); off: every statistic from the first step, which converged faster in "
        "our runs.", "plenoptic's coarse-to-fine metamers",
    )
    preserve_color: str = _f(
        "none", "Keep the photo's colours when stylising: 'luminance' matches the painting's statistics on "
        "brightness only and puts the photo's colours back; 'histogram' recolours the painting to the "
        "photo's colours first.", "Gatys 2017 §3", choices=PRESERVE_COLOR, basic=True, texture=False,
    )
    precision: str = _f("fp32", "Arithmetic of the pyramid and the statistics: 'fp32' or 'fp64' (slower, for "
                        "reference runs).", choices=("fp32", "fp64"))

    def __post_init__(self):
        super().__post_init__()
        if self.spatial_neighbors % 2 == 0:  # a rule of one field that the declared ranges cannot say
            raise OptionError(f"--spatial-neighbors must be odd, not {self.spatial_neighbors}.")

    def min_side(self) -> int:
        """The shortest image side the pyramid and the neighbourhoods fit in (pixels)."""
        return 2**self.n_scales * max(4, self.spatial_neighbors)
