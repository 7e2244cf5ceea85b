"""Configuration of the Johnson et al. feed-forward method (inference): every field typed, defaulted and
documented. The network itself (its architecture, style and training settings) comes from the model file;
these options only say how to run it. Training options live in ``methods/johnson/train.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from .. import Capabilities
from .. import option as _f

PRESERVE_COLOR = ("none", "luminance", "histogram")


@dataclass
class JohnsonConfig:
    model: str = _f(
        "", "Trained network: a bundled or user model's name, or the path of a .safetensors/.onnx file "
        "(run 'atelier models' to list them).", "Johnson 2016 §3.1", metavar="NAME|PATH",
    )
    size: int = _f(0, "Long side of the output image in pixels; 0 keeps the content's own size.")
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' runs the network on brightness only and puts the "
        "photo's colours back; 'histogram' recolours the result to the photo's colour mean and covariance.",
        "Gatys 2017 §3", choices=PRESERVE_COLOR,
    )
    tile: int = _f(
        0, "Run the network in tiles of this many pixels per side (multiple of 4); 0 = only when the image "
        "would exceed --max-memory.",
    )
    overlap: int = _f(
        64, "Pixels by which neighbouring tiles overlap and are cross-faded (multiple of 4; less than half a "
        "tile); more means smoother seams, more work.",
    )
    max_memory: float = _f(
        4.0, "Peak memory of the run in GiB (torch itself ~0.5, the image buffers and the network's "
        "activations); larger images are processed in tiles.", metavar="GIB",
    )
    precision: str = _f("auto", "Arithmetic of the network: 'auto' (bf16 where the hardware has bf16 dot products, "
                        "else fp32), 'fp32' or 'bf16'.", choices=("auto", "fp32", "bf16"))
    compile: str = _f(
        "auto", "Run the network through torch.compile (2-3x faster on a CPU after ~12 s of compiling per image "
        "size): 'auto' once the time spent on one size in this process reaches that cost (videos, batches, a "
        "server; never for one image), 'on', 'off'.",
        choices=("auto", "on", "off"),
    )
    backend: str = _f(
        "auto", "Inference engine: 'torch', 'onnx' (onnxruntime, for .onnx files from 'atelier export') or "
        "'auto' (onnx for .onnx files, else torch).", choices=("auto", "torch", "onnx"),
    )

    def validate(self, n_styles: int = 0) -> None:
        # n_styles: the registry's validate() signature; the style is in the model, not an input.
        if not str(self.model).strip():
            raise OptionError("The johnson method needs a trained network: pass --model NAME or a "
                              ".safetensors/.onnx file (run 'atelier models' to list them).")
        if self.size < 0:
            raise OptionError(f"--size must be 0 (the content's size) or a positive number, not {self.size}.")
        if 0 < self.size < 8:
            raise OptionError(f"--size must be at least 8 pixels, not {self.size}.")
        for name, allowed in (("preserve_color", PRESERVE_COLOR), ("precision", ("auto", "fp32", "bf16")),
                              ("compile", ("auto", "on", "off")),
                              ("backend", ("auto", "torch", "onnx"))):
            if getattr(self, name) not in allowed:
                raise OptionError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}.")
        if self.tile < 0 or self.tile % 4 or self.overlap < 0 or self.overlap % 4:
            raise OptionError("--tile and --overlap must be 0 or more and multiples of 4.")
        if self.tile and 2 * self.overlap >= self.tile:
            raise OptionError(f"--overlap ({self.overlap}) must be less than half of --tile ({self.tile}).")
        if self.max_memory <= 0:
            raise OptionError(f"--max-memory must be positive, not {self.max_memory}.")


# Read by the registry without importing the method (and torch): see atelier/methods/__init__.py.
CONFIG = JohnsonConfig
CAPABILITIES = Capabilities(needs_style=False, multiple_styles=False, masks=False, trainable=True, video=True)
SUMMARY = ("Stylise in one pass of a feed-forward network trained for one style (Johnson et al. 2016); "
           "needs --model.")
