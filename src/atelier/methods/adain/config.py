"""Configuration of the AdaIN method (inference): every field typed, defaulted and documented. Torch-free
(read by ``atelier.methods.method_spec``). SANet's config (``methods/sanet/config.py``) extends it.

Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization": §6.1
(network), §7.1 (user controls: content-style trade-off, style interpolation, colour and spatial control).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...errors import OptionError
from .. import Capabilities
from .. import option as _f

PRESERVE_COLOR = ("none", "luminance", "histogram")
# The decoder used when --model is not given: a bundled decoder of this name (weights/adain/manifest.json)
# or the user's $ATELIER_HOME/models/adain.safetensors (benchmarks/arbitrary_eval.py bundles one).
DEFAULT_MODEL = "adain"


@dataclass
class AdaINConfig:
    METHOD: ClassVar[str] = "adain"  # not a field: which method's decoder --model names
    model: str = _f(
        DEFAULT_MODEL, "Trained decoder: a bundled or user model's name, or the path of a .safetensors file "
        "from 'atelier train adain' (run 'atelier models' to list them).", "Huang 2017 §6.1",
        metavar="NAME|PATH",
    )
    size: int = _f(512, "Long side of the output image in pixels; 0 keeps the content's own size.")
    style_size: int = _f(
        512, "Long side in pixels of each style image when its statistics are taken; smaller gives larger "
        "brush strokes relative to the output (0 keeps the style image's size).", "Huang 2017 §6.2",
    )
    alpha: float = _f(
        1.0, "Content-style trade-off: 0 reconstructs the photo, 1 is the full style; in between "
        "interpolates the features given to the decoder.", "Huang 2017 §7.1 (eq. 14)",
    )
    style_weights: list[float] | None = _f(
        None, "Interpolation weights of several styles, one per style image (normalised to sum to 1).",
        "Huang 2017 §7.1 (style interpolation)",
    )
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' stylises brightness only and puts the photo's "
        "colours back; 'histogram' recolours the paintings to the photo's colours first.",
        "Huang 2017 §7.1; Gatys 2017 §3", choices=PRESERVE_COLOR,
    )
    tile: int = _f(
        0, "Run the network in tiles of this many pixels per side (multiple of 16); 0 = only when the image "
        "would exceed --max-memory.",
    )
    overlap: int = _f(
        64, "Pixels by which neighbouring tiles overlap and are cross-faded (multiple of 16; less than half a "
        "tile).",
    )
    max_memory: float = _f(
        4.0, "Memory budget in GiB for the network's activations; larger images are processed in tiles.",
        metavar="GIB",
    )
    # auto: on the bundled networks, 3 unseen paintings x 3 photos at 256 px, bf16 moved the style and content
    # distances by at most 0.3 % against fp32, and makes 512 px 3.4x faster (0.25 s vs 0.86 s for AdaIN).
    precision: str = _f("auto", "Arithmetic of the encoder and decoder: 'auto' (bf16 where the hardware has bf16 "
                        "dot products, else fp32), 'fp32' or 'bf16'.",
                        choices=("auto", "fp32", "bf16"))
    weights: str = _f("pretrained", "VGG-19 weights: 'pretrained' (Caffe ImageNet) or 'random' (for tests).",
                      choices=("pretrained", "random"), cli=False)

    def validate(self, n_styles: int = 1) -> None:
        if not str(self.model).strip():
            raise OptionError("--model must name a trained decoder or a .safetensors file.")
        default = type(self).__dataclass_fields__["model"].default
        if self.model == default:
            from ...errors import WeightsError
            from ...weights import has_model

            if not has_model(default):  # before any image is read: one sentence, nothing else
                raise WeightsError(no_decoder_message(self.METHOD, default))
        if self.size < 0 or 0 < self.size < 16:
            raise OptionError(f"--size must be 0 (the content's size) or at least 16 pixels, not {self.size}.")
        if self.style_size < 0 or 0 < self.style_size < 16:
            raise OptionError(f"--style-size must be 0 or at least 16 pixels, not {self.style_size}.")
        if not 0.0 <= self.alpha <= 1.0:
            raise OptionError(f"--alpha must be between 0 and 1, not {self.alpha}.")
        if self.style_weights is not None:
            if len(self.style_weights) != n_styles:
                raise OptionError(f"--style-weights has {len(self.style_weights)} value(s) but there are "
                                  f"{n_styles} style image(s).")
            if any(w < 0 for w in self.style_weights) or sum(self.style_weights) <= 0:
                raise OptionError("--style-weights must be 0 or more and not all 0.")
        for name, allowed in (("preserve_color", PRESERVE_COLOR), ("precision", ("fp32", "bf16", "auto")),
                              ("weights", ("pretrained", "random"))):
            if getattr(self, name) not in allowed:
                raise OptionError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}.")
        if self.tile < 0 or self.tile % 16 or self.overlap < 0 or self.overlap % 16:
            raise OptionError("--tile and --overlap must be 0 or more and multiples of 16.")
        if self.tile and 2 * self.overlap >= self.tile:
            raise OptionError(f"--overlap ({self.overlap}) must be less than half of --tile ({self.tile}).")
        if self.max_memory <= 0:
            raise OptionError(f"--max-memory must be positive, not {self.max_memory}.")


def no_decoder_message(method: str, default: str) -> str:
    return (f"No {method} decoder is installed yet: train one with 'atelier train {method} --content-dir "
            f"PHOTOS --style-dir PAINTINGS -o {default}.safetensors' and pass --model {default}.safetensors "
            f"(or copy it to $ATELIER_HOME/models/ to make it the default).")


def summary(method: str, text: str, default: str) -> str:
    """The one-line summary, saying when no default decoder is installed (a manifest read, no torch)."""
    from ...weights import has_model

    try:
        ready = has_model(default)
    except Exception:  # noqa: BLE001 - a listing must not fail on a damaged manifest; stylize will say why
        ready = True
    return text if ready else f"{text} No decoder is bundled yet: train one with 'atelier train {method}'."


# Read by the registry without importing the method (and torch): see atelier/methods/__init__.py.
CONFIG = AdaINConfig
CAPABILITIES = Capabilities(needs_style=True, multiple_styles=True, masks=True, trainable=True, video=True)
_TEXT = ("Any style in one pass: adaptive instance normalisation of VGG features and a trained decoder "
         "(Huang & Belongie 2017).")


def __getattr__(name: str):
    # SUMMARY is computed when read (method_spec reads it per call), so a long-running process (the web
    # server) sees a decoder installed after it started.
    if name == "SUMMARY":
        return summary("adain", _TEXT, DEFAULT_MODEL)
    raise AttributeError(name)
