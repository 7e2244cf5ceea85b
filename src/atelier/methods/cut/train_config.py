"""Training configuration of CUT / FastCUT (no torch import; ``atelier train cut --help`` reads it).

Park, Efros, Zhang & Zhu 2020, §3 and appendix: LSGAN loss (lambda_GAN 1), PatchNCE over 5 layers of the
generator's encoder with 256 locations per layer and tau 0.07; FastCUT (the default here): lambda_NCE 10
and no identity NCE; CUT: lambda_NCE 1 with the identity NCE on domain B images (``--nce-identity``).
Adam lr 2e-4, betas (0.5, 0.999), batch 1, linear decay over the last part of the training. The options
shared with CycleGAN (size, crop, steps, ...) are ``cyclegan.train_config.UnpairedTrainConfig``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option as _f
from ..cyclegan.train_config import INPUTS, UnpairedTrainConfig

__all__ = ["INPUTS", "CUTTrainConfig"]


@dataclass
class CUTTrainConfig(UnpairedTrainConfig):
    gan_weight: float = _f(1.0, "Weight of the adversarial (LSGAN) loss.", "Park 2020 eq. 5 (1)", minimum=0)
    nce_weight: float = _f(10.0, "Weight of the PatchNCE loss (FastCUT 10; CUT 1 with --nce-identity).",
                           "Park 2020 §4 (lambda_X)", above=0)
    nce_identity: bool = _f(False, "Also the identity PatchNCE on domain B images (CUT; FastCUT: off), "
                            "averaged with the main term.", "Park 2020 eq. 5 (lambda_Y)")
    nce_temperature: float = _f(0.07, "Temperature tau of PatchNCE.", "Park 2020 eq. 2 (0.07)", above=0)
    nce_patches: int = _f(256, "Locations sampled per layer and image for PatchNCE.", "Park 2020 §3.2 (256)",
                          minimum=2)
