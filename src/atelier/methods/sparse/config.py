"""Configuration of the sparse-coding transfer (K-SVD dictionary of the painting, OMP codes of the photo).

Aharon, Elad & Bruckstein 2006 (K-SVD): §III-A (OMP, the sparsity T0), §IV (the K-SVD iterations and the
dictionary size K); Elad & Aharon 2006 ("Image Denoising Via Sparse and Redundant Representations Over
Learned Dictionaries", IEEE TIP) §III for the patch size, the overlap of the patches and the fidelity weight
lambda of eq. (13). Torch-free (read through ``spec.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import Config
from ...options import option as _f


@dataclass
class SparseConfig(Config):
    size: int = _f(512, "Long side of the output image in pixels.", minimum=16, basic=True)
    style_scale: float = _f(
        1.0, "Size of the painting relative to the output (its long side is this times --size); larger "
        "gives bigger brush strokes.", above=0,
    )
    patch_size: int = _f(8, "Side in pixels of the patches that are learnt and coded (at each scale).",
                         "Elad & Aharon 2006 §III (8x8)", minimum=2, maximum=32)
    atoms: int = _f(256, "Atoms of the painting's dictionary (over-complete when more than a patch's "
                    "3 x patch-size^2 values: 256 for 8x8 colour patches of 192 values).", "Aharon 2006 §V (K)",
                    minimum=8, maximum=2048)
    sparsity: int = _f(3, "Atoms per patch in the sparse code (OMP's T0): fewer keeps less of the photo's "
                       "detail and more of the painting's strokes.", "Aharon 2006 §III-A (T0)",
                       minimum=1, maximum=32, basic=True)
    dictionary_iterations: int = _f(10, "K-SVD sweeps (sparse coding + atom updates) learning the dictionary.",
                                    "Aharon 2006 §IV", minimum=1)
    training_patches: int = _f(6000, "Patches of the painting the dictionary is learnt from (drawn at "
                               "random from its textured patches).", "Aharon 2006 §IV", minimum=64)
    scales: int = _f(3, "Scales, coarse to fine, each halving the size: coarser scales give larger strokes.",
                     minimum=1, maximum=5)
    iterations: int = _f(3, "Passes of code / aggregate / fuse at each scale.", "Elad & Aharon 2006 §III",
                         minimum=1, basic=True)
    stride: int = _f(2, "Step in pixels between the coded patches (1 = every patch, slower, smoother).",
                     "Elad & Aharon 2006 §III (overlap)", minimum=1)
    content_weight: float = _f(
        0.25, "Fidelity to the photo: each pass keeps (patches + w x photo) / (1 + w); 0 lets the painting's "
        "strokes replace the photo's detail.", "Elad & Aharon 2006 eq. 13 (lambda)", minimum=0, basic=True,
    )
    noise: float = _f(
        1.5, "Seeded noise added at each scale, relative to the painting's patch contrast: it seeds strokes "
        "where the photo is flat (0 = none).", minimum=0,
    )
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' transfers the style on brightness only; 'histogram' "
        "recolours the painting to the photo's colours first (else the result takes the painting's).",
        "Gatys 2017 §3", choices=("none", "luminance", "histogram"), basic=True,
    )

    def validate(self, n_styles: int = 1) -> None:
        """Rules across fields (ranges and choices are on the fields)."""
        if self.stride > self.patch_size:
            raise OptionError(f"--stride ({self.stride}) must not exceed --patch-size ({self.patch_size}), "
                              "or some pixels are in no patch.")
        if self.sparsity > self.atoms:
            raise OptionError(f"--sparsity ({self.sparsity}) must not exceed --atoms ({self.atoms}).")
