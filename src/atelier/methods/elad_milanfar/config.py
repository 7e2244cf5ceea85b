"""Configuration of Elad & Milanfar's style transfer via texture synthesis.

Elad & Milanfar 2017, "Style Transfer via Texture Synthesis" (IEEE TIP 26(5)): Algorithm 1 and its
parameters ( L_max = 3 scales, patch sizes 33/21/13/9 at sub-sampling gaps 28/18/8/5, I_alg = 3
iterations per patch size, r = 0.8, the initial noise sigma = 50 of 255). Torch-free (read through
``spec.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config
from ...options import option as _f


@dataclass
class EladMilanfarConfig(Config):
    size: int = _f(512, "Long side of the output image in pixels.", minimum=16, basic=True)
    style_scale: float = _f(
        1.0, "Size of the painting relative to the output (its long side is this times --size); larger "
        "gives bigger brush strokes.", "Elad 2017 (same-size images)", above=0,
    )
    levels: int = _f(3, "Scales of the Gaussian pyramid, processed coarse to fine.", "Elad 2017 Alg. 1 (L_max)",
                     minimum=1, maximum=6)
    patch_sizes: list[int] = _f([33, 21, 13, 9], "Patch sides in pixels, processed in this order at every "
                                "scale (sizes that do not fit a coarse scale are skipped there).",
                                "Elad 2017 Alg. 1 (n)", minimum=3, metavar="PX")
    gaps: list[int] = _f([28, 18, 8, 5], "Sub-sampling gap of the patch grid for each patch size (at most "
                         "the patch size, so patches overlap or touch).", "Elad 2017 Alg. 1 (gaps)",
                         minimum=1, metavar="PX")
    iterations: int = _f(3, "Iterations per patch size and scale (match, aggregate, fuse, recolour, denoise).",
                         "Elad 2017 Alg. 1 (I_alg)", minimum=1, basic=True)
    irls_iterations: int = _f(3, "Reweighting steps of the robust patch aggregation.",
                              "Elad 2017 Alg. 1 (robust aggregation); Kwatra 2005 §3", minimum=1)
    robust: float = _f(0.8, "Exponent r of the robust aggregation sum ||R X - z||^r (2 = plain least squares, "
                       "smaller = fewer blurred overlaps).", "Elad 2017 Alg. 1 (robust aggregation, r = 0.8)", above=0, maximum=2)
    content_weight: float = _f(
        1.0, "Weight of the photo in the content fusion X = (W + I)^-1 (X~ + W C): W is this times the "
        "segmentation weight.", "Elad 2017 Alg. 1 (content fusion)", minimum=0, basic=True,
    )
    segmentation: str = _f(
        "edges", "Where the photo is kept: 'edges' (content weight near the photo's edges, blurred; flat "
        "regions get the painting's texture) or 'none' (the same weight everywhere).", "Elad 2017 Alg. 1 (segmentation mask W)",
        choices=("edges", "none"),
    )
    noise: float = _f(0.2, "Standard deviation of the seeded noise added to the photo at the start (0.2 ~ "
                      "the paper's 50 of 255).", "Elad 2017 Alg. 1 (initialisation)", minimum=0)
    denoise_sigma_s: float = _f(5.0, "Spatial sigma in pixels of the domain-transform smoothing after each "
                                "iteration (0 disables it).", "Elad 2017 Alg. 1 (denoise); Gastal & Oliveira 2011",
                                minimum=0)
    denoise_sigma_r: float = _f(0.2, "Range sigma of that smoothing: intensity steps well above it are "
                                "edges it keeps.", "Elad 2017 Alg. 1 (denoise); Gastal & Oliveira 2011", above=0)
    candidates: int = _f(
        20000, "Painting patches searched per patch size and scale: a regular sub-grid of all positions "
        "(fewer is faster, coarser matching).", "Elad 2017 Alg. 1 (patch matching)", minimum=16,
    )
    pca_dims: int = _f(32, "Dimensions of the PCA-reduced patches used for matching (the fewest holding 95 % "
                       "of the variance, at most this).", "Elad 2017 Alg. 1 (patch matching, PCA)", minimum=1)
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' transfers the style on brightness only; 'histogram' "
        "recolours the painting to the photo's colours first (else the result takes the painting's).",
        "Gatys 2017 §3", choices=("none", "luminance", "histogram"), basic=True,
    )

    def validate(self, n_styles: int = 1) -> None:
        """Rules across fields (ranges and choices are on the fields)."""
        if len(self.gaps) != len(self.patch_sizes) or not self.patch_sizes:
            raise OptionError(f"--gaps has {len(self.gaps)} value(s) for {len(self.patch_sizes)} patch size(s); "
                              "give one gap per patch size.")
        for n, g in zip(self.patch_sizes, self.gaps):
            if g > n:
                raise OptionError(f"The gap {g} exceeds its patch size {n}: some pixels would be in no patch.")
