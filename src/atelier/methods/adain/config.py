"""Configuration of the AdaIN method (inference): every field typed, defaulted and documented. Torch-free
(read by ``atelier.methods.method_spec`` through ``spec.py``). SANet's config (``methods/sanet/config.py``) extends it.

Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization": §6.1
(network), §7.1 (user controls: content-style trade-off, style interpolation, colour and spatial control).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config, check_style_weights
from ...options import option as _f

PRESERVE_COLOR = ("none", "luminance", "histogram")
# The decoder used when --model is not given: a bundled decoder of this name (weights/adain/manifest.json)
# or the user's $ATELIER_HOME/models/adain.safetensors (benchmarks/arbitrary_eval.py bundles one).
DEFAULT_MODEL = "adain"


@dataclass
class AdaINConfig(Config):
    model: str = _f(
        DEFAULT_MODEL, "Trained decoder: a bundled or user model's name, or the path of a .safetensors file "
        "from 'atelier train adain' (run 'atelier models' to list them).", "Huang 2017 §6.1",
        metavar="NAME|PATH", basic=True,
    )
    size: int = _f(512, "Long side of the output image in pixels; 0 keeps the content's own size.",
                   minimum=16, zero="the content's size", basic=True)
    style_size: int = _f(
        512, "Long side in pixels of each style image when its statistics are taken; smaller gives larger "
        "brush strokes relative to the output (0 keeps the style image's size).", "Huang 2017 §6.2",
        minimum=16, zero="the style image's size",
    )
    alpha: float = _f(
        1.0, "Content-style trade-off: 0 reconstructs the photo, 1 is the full style; in between "
        "interpolates the features given to the decoder.", "Huang 2017 §7.1 (eq. 14)",
        minimum=0.0, maximum=1.0, basic=True,
    )
    style_weights: list[float] | None = _f(
        None, "Interpolation weights of several styles, one per style image (normalised to sum to 1).",
        "Huang 2017 §7.1 (style interpolation)", minimum=0,
    )
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' stylises brightness only and puts the photo's "
        "colours back; 'histogram' recolours the paintings to the photo's colours first.",
        "Huang 2017 §7.1; Gatys 2017 §3", choices=PRESERVE_COLOR, basic=True,
    )
    tile: int = _f(
        0, "Run the network in tiles of this many pixels per side (multiple of 16); 0 = only when the image "
        "would exceed --max-memory.", minimum=0, multiple_of=16,
    )
    overlap: int = _f(
        64, "Pixels by which neighbouring tiles overlap and are cross-faded (multiple of 16; less than half a "
        "tile).", minimum=0, multiple_of=16,
    )
    max_memory: float = _f(
        4.0, "Peak memory of the run in GiB (torch itself ~0.5, the image buffers and the networks' "
        "activations); larger images are processed in tiles.", metavar="GIB", above=0,
    )
    # auto: on the bundled networks, 3 unseen paintings x 3 photos at 256 px, bf16 moved the style and content
    # distances by at most 0.3 % against fp32, and makes 512 px 3.4x faster (0.25 s vs 0.86 s for AdaIN).
    precision: str = _f("auto", "Arithmetic of the encoder and decoder: 'auto' (bf16 where the hardware has bf16 "
                        "dot products, else fp32), 'fp32' or 'bf16'.",
                        choices=("auto", "fp32", "bf16"))
    weights: str = _f("pretrained", "VGG-19 weights: 'pretrained' (Caffe ImageNet) or 'random' (for tests).",
                      choices=("pretrained", "random"), cli=False)

    def validate(self, n_styles: int = 1) -> None:
        """Rules across fields and the run's style count (ranges and choices are on the fields)."""
        check_style_weights(self.style_weights, n_styles)
        if self.tile and 2 * self.overlap >= self.tile:
            raise OptionError(f"--overlap ({self.overlap}) must be less than half of --tile ({self.tile}).")


TEXT = ("Any style in one pass: adaptive instance normalisation of VGG features and a trained decoder "
        "(Huang & Belongie 2017).")
