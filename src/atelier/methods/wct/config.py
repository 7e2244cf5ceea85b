"""Configuration of the WCT method (inference): AdaIN's options, WCT's decoders and its levels. Torch-free
(read by ``atelier.methods.method_spec`` through ``spec.py``). ``smooth``: the photorealistic smoothing of
Li, Liu, Li, Yang & Kautz 2018 ("A Closed-form Solution to Photorealistic Image Stylization", §3.2), in its
fast guided-filter form (``ops/guided.py``).

Li, Fang, Yang, Wang, Lu & Yang 2017, "Universal Style Transfer via Feature Transforms" (NeurIPS): §3.1
(whitening and colouring, the trade-off alpha, eq. 4), §3.2 (multi-level, coarse to fine), §4 (style
interpolation, spatial control).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import option as _f
from ..adain.config import AdaINConfig

DEFAULT_MODEL = "wct"


@dataclass
class WCTConfig(AdaINConfig):
    model: str = _f(
        DEFAULT_MODEL, "Trained reconstruction decoders: a bundled or user model's name, or the path of a "
        ".safetensors file from 'atelier train wct' (run 'atelier models' to list them).", "Li 2017 §3.1",
        metavar="NAME|PATH", basic=True,
    )
    alpha: float = _f(
        1.0, "Content-style trade-off at every level: 0 reconstructs the photo, 1 is the full style; in "
        "between blends the coloured features with the photo's.", "Li 2017 eq. 4",
        minimum=0.0, maximum=1.0, basic=True,
    )
    style_weights: list[float] | None = _f(
        None, "Interpolation weights of several styles, one per style image (normalised to sum to 1).",
        "Li 2017 §4 (style interpolation)", minimum=0,
    )
    # Deviation from Li 2017 (all five levels): the bundled relu4_1/relu5_1 decoders still reconstruct a photo
    # poorly (content 0.42 / 0.80 after 1398 steps), and levels 3 2 1 reached the same style distance with
    # half the content distance of 5 4 3 2 1 (benchmarks/results/wct_levels.md): 5 4 3 2 1 stays one option away.
    levels: list[int] = _f(
        [3, 2, 1], "VGG levels transformed, each decoded and encoded again at the next: 5 = relu5_1 (large "
        "structures) ... 1 = relu1_1 (colours, fine strokes); run coarse to fine whatever the order given "
        "(the paper's: 5 4 3 2 1, more abstract).",
        "Li 2017 §3.2", minimum=1, maximum=5, metavar="LEVEL",
    )

    smooth: int = _f(
        0, "Photorealistic smoothing for style transfer between photos: the radius in pixels of a guided "
        "filter with the photo as guide, which makes the result locally an affine function of the photo's "
        "colours (0 = off; the paper's code uses 35 at ~512 px). Paints away brush strokes: for photographs "
        "as styles.", "Li 2018 §3.2 (fast approximation)", minimum=0, maximum=500, metavar="PIXELS",
    )

    def validate(self, n_styles: int = 1) -> None:
        super().validate(n_styles)
        if not self.levels:
            raise OptionError("--levels needs at least one level (1 to 5).")
        if len(set(self.levels)) != len(self.levels):
            raise OptionError(f"--levels names a level twice: {' '.join(map(str, self.levels))}.")


TEXT = ("Any style without a style-trained network: whitening and colouring transforms of VGG features at "
        "up to five levels (three by default), coarse to fine, and decoders trained only to reconstruct photos "
        "(Li et al. 2017).")
