"""Configuration of the quilting method (torch-free; read through ``spec.py``).

Efros & Freeman 2001, "Image Quilting for Texture Synthesis and Transfer" (SIGGRAPH): §2.1 (block size,
overlap, tolerance), §2.2 (texture synthesis), §3 (texture transfer, its correspondence map, the iterations
and the alpha schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config
from ...options import option as _f

PRESERVE_COLOR = ("none", "luminance", "histogram")


@dataclass
class QuiltingConfig(Config):
    block: int = _f(
        0, "Side in pixels of the square blocks copied from the sample: larger than the texture's biggest "
        "structure (synthesis) or the strokes to keep (transfer, first pass).", "Efros & Freeman 2001 §2.1",
        minimum=6, maximum=256, zero="an eighth of the sample's long side (texture) or a sixteenth of the "
        "output's (transfer), 8 to 64 px: 32 at the defaults", basic=True,
    )
    overlap: int = _f(
        0, "Pixels by which neighbouring blocks overlap (0: a sixth of the block, the paper's choice).",
        "Efros & Freeman 2001 §2.1", minimum=2, zero="a sixth of the block",
    )
    tolerance: float = _f(
        0.1, "Every block within (1 + tolerance) x the best error is a candidate; one is drawn at random.",
        "Efros & Freeman 2001 §2.1 (0.1)", minimum=0.0, maximum=10.0,
    )
    cut: bool = _f(
        True, "Join blocks along the minimum-error boundary cut (off: paste square blocks, the paper's "
        "Fig. 2 middle column).", "Efros & Freeman 2001 §2.1",
    )
    sample_size: int = _f(
        256, "Long side in pixels the sample (or painting) is resized to before quilting; its texture keeps "
        "its size relative to that (0 keeps its size; large samples are slower).", minimum=16,
        zero="the sample's size", basic=True,
    )
    size: int = _f(512, "Transfer: long side of the output in pixels (0 keeps the photo's size).",
                   minimum=16, zero="the photo's size", basic=True, texture=False)
    passes: int = _f(
        3, "Transfer: passes over the image; each reduces the block by a third and weighs the texture more "
        "(alpha from --alpha-start to --alpha-end).", "Efros & Freeman 2001 §3 (N = 3 to 5)",
        minimum=1, maximum=8, basic=True, texture=False,
    )
    alpha_start: float = _f(
        0.1, "Transfer: weight of the texture (overlap) error against the correspondence error in the first "
        "pass; 0 follows the photo only.", "Efros & Freeman 2001 §3 (alpha_1 = 0.1)", minimum=0.0, maximum=1.0,
        texture=False,
    )
    alpha_end: float = _f(
        0.9, "Transfer: that weight in the last pass.", "Efros & Freeman 2001 §3 (alpha_N = 0.9)",
        minimum=0.0, maximum=1.0, texture=False,
    )
    correspondence: str = _f(
        "blurred", "Transfer: the map matched between photo and painting: 'luminance' or 'blurred' "
        "luminance (ignores fine texture, follows shapes).", "Efros & Freeman 2001 §3",
        choices=("luminance", "blurred"), texture=False,
    )
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' quilts brightness only and puts the photo's colours "
        "back; 'histogram' recolours the painting to the photo's colours first.", "Gatys 2017 §3",
        choices=PRESERVE_COLOR, basic=True, texture=False,
    )

    def block_for(self, side: int, fraction: int) -> int:
        """The first block: --block, or ``side / fraction`` within 8-64 px (the paper picks it per image;
        a fixed 32 px made a 256 px transfer lose the photo and a 2048 px one all brush strokes)."""
        return self.block or min(64, max(8, round(side / fraction)))

    def block_overlap(self, block: int) -> int:
        """The overlap for a block of ``block`` pixels (a sixth of it unless --overlap is given)."""
        return min(self.overlap or max(2, round(block / 6)), block // 2)

    def validate(self, n_styles: int = 1) -> None:
        if self.overlap and self.block and self.overlap > self.block // 2:
            raise OptionError(f"--overlap must be at most half the block ({self.block // 2} px), not "
                              f"{self.overlap}.")
