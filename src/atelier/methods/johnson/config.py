"""Configuration of the Johnson et al. feed-forward method (inference): every field typed, defaulted and
documented. The network itself (its architecture, style and training settings) comes from the model file;
these options only say how to run it. Training options live in ``methods/johnson/train.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config
from ...options import option as _f

PRESERVE_COLOR = ("none", "luminance", "histogram")


@dataclass
class JohnsonConfig(Config):
    model: str = _f(
        "", "Trained network: a bundled or user model's name, or the path of a .safetensors/.onnx file "
        "(run 'atelier models' to list them).", "Johnson 2016 §3.1", metavar="NAME|PATH", basic=True,
    )
    size: int = _f(0, "Long side of the output image in pixels; 0 keeps the content's own size.",
                   minimum=8, zero="the content's size", basic=True)
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' runs the network on brightness only and puts the "
        "photo's colours back; 'histogram' recolours the result to the photo's colour mean and covariance.",
        "Gatys 2017 §3", choices=PRESERVE_COLOR, basic=True,
    )
    tile: int = _f(
        0, "Run the network in tiles of this many pixels per side (multiple of 4); 0 = only when the image "
        "would exceed --max-memory.", minimum=0, multiple_of=4,
    )
    overlap: int = _f(
        64, "Pixels by which neighbouring tiles overlap and are cross-faded (multiple of 4; less than half a "
        "tile); more means smoother seams, more work.", minimum=0, multiple_of=4,
    )
    max_memory: float = _f(
        4.0, "Peak memory of the run in GiB (torch itself ~0.5, the image buffers and the network's "
        "activations); larger images are processed in tiles.", metavar="GIB", above=0,
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
        """Rules across fields (ranges and choices are on the fields); the style is in the model."""
        if self.tile and 2 * self.overlap >= self.tile:
            raise OptionError(f"--overlap ({self.overlap}) must be less than half of --tile ({self.tile}).")


TEXT = ("Stylise in one pass of a feed-forward network trained for one style (Johnson et al. 2016); "
        "needs --model.")
