"""Training configuration of CycleGAN (no torch import; ``atelier train cyclegan --help`` reads it).

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", §4 (objective) and §7 / appendix 7.1 (training details): least-squares GAN loss, cycle loss
lambda = 10, identity loss 0.5 lambda (used for the painting <-> photo tasks, §5.2), a pool of 50 generated
images, Adam lr 2e-4, betas (0.5, 0.999), batch 1, constant learning rate for the first half of the training
and linear decay to 0 over the second half; images resized to 286 and randomly cropped to 256 with flips.
Ranges and choices are on the fields (checked when the config is made, ``atelier.options``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import SEED_LIMIT, Config
from ...options import option as _f

# What `atelier train cyclegan` takes besides its options: the two domains' folders (the CLI adds these as
# required options and passes them to ``train(style, data, ...)`` under ``dest``).
INPUTS = (
    {"flag": "--domain-a", "dest": "data", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of domain A images (e.g. photos), searched recursively (JPEG, PNG, WebP, TIFF, BMP)."},
    {"flag": "--domain-b", "dest": "style", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of domain B images (e.g. paintings of one school), searched recursively."},
)


@dataclass
class UnpairedTrainConfig(Config):
    """What CycleGAN's and CUT's trainings share (``methods/cut/train_config.py`` extends it)."""

    size: str = _f(
        "compact", "Network size: 'compact' (generators of 16/32/64 channels and 6 residual blocks, "
        "discriminators of width 32: sized for a CPU) or 'paper' (64/128/256, 9 blocks, width 64).",
        "Zhu 2017 appendix 7.2", choices=("compact", "paper"),
    )
    ngf: int = _f(0, "Generator width (channels of its first layer; it doubles twice), instead of the size's.",
                  "Zhu 2017 appendix 7.2 (64)", minimum=0, zero="the size's")
    blocks: int = _f(0, "Residual blocks of the generators, instead of the size's.",
                     "Zhu 2017 appendix 7.2 (9 at 256 px)", minimum=0, zero="the size's")
    ndf: int = _f(0, "Discriminator width (channels of its first layer), instead of the size's.",
                  "Zhu 2017 appendix 7.2 (64)", minimum=0, zero="the size's")
    crop: int = _f(128, "Side of the square training crops in pixels (the paper: 256; 128 trains ~4x faster).",
                   "Zhu 2017 §7 (256)", minimum=16, multiple_of=4)
    steps: int = _f(20000, "Total training steps (one image of each domain per step); the learning rate "
                    "decays linearly to 0 over the second half of them. A resumed run continues up to this "
                    "count. 0 = no step limit (then give --minutes; the learning rate stays constant).",
                    "Zhu 2017 §7 (200 epochs of ~1000 images)", minimum=0)
    minutes: float = _f(0.0, "Time budget of this session in minutes: stop cleanly before the step that would "
                        "exceed it (0 = no budget; with both, whichever comes first).", minimum=0)
    batch_size: int = _f(1, "Images of each domain per step, over all processes of a torchrun training.",
                         "Zhu 2017 §7 (1)", minimum=1)
    lr: float = _f(2e-4, "Adam learning rate (generators and discriminators).", "Zhu 2017 §7", above=0)
    beta1: float = _f(0.5, "Adam's first-moment decay.", "Zhu 2017 §7", minimum=0, maximum=0.999)
    max_scale: float = _f(1.12, "Scale augmentation: images seen with their short side between --crop and "
                          "this times --crop (the paper resizes to 286 and crops 256: 1.12).",
                          "Zhu 2017 §7", minimum=1.0, maximum=4.0)
    precision: str = _f("auto", "Arithmetic of the networks' passes: 'auto' (bf16 autocast where the hardware "
                        "has bf16 dot products, else fp32), 'fp32' or 'bf16'; weights and optimizer stay fp32.",
                        choices=("auto", "fp32", "bf16"))
    cache_mb: float = _f(1024.0, "Memory in MB for decoded, downsized training images (0 = decode every time).",
                         metavar="MB", minimum=0)
    checkpoint_every: int = _f(200, "Write the resumable checkpoint every N steps (also at the end and on "
                               "Ctrl-C); a killed run loses at most N steps.", minimum=0)
    preview_every: int = _f(200, "Translate the first image of each domain every N steps (the CLI writes "
                            "MODEL.preview.png: row 1 A -> B, row 2 B -> A; 0 = never).", minimum=0)
    seed: int = _f(0, "Random seed of the initial weights, the crops and the image pools: same seed, same run.",
                   minimum=0, maximum=SEED_LIMIT - 1)
    init: str = _f("", "Start the generator(s) from a trained model of this method (a file or an installed "
                   "model's name; same size); the discriminators start afresh (a model file holds the "
                   "generators only). A resumed run continues its checkpoint instead.", metavar="MODEL")

    def validate(self) -> None:
        """Rules across fields (ranges and choices are on the fields, checked when the config is made)."""
        if self.steps == 0 and self.minutes <= 0:
            raise OptionError("Give --steps or --minutes (or both): training needs an end.")


@dataclass
class CycleGANTrainConfig(UnpairedTrainConfig):
    cycle_weight: float = _f(10.0, "Weight of the cycle-consistency loss (L1, images in [-1, 1]).",
                             "Zhu 2017 eq. 3, 4 (lambda)", minimum=0)
    identity_weight: float = _f(0.5, "Weight of the identity loss, times --cycle-weight (a generator given an "
                                "image of its own output domain should return it: keeps colours).",
                                "Zhu 2017 §5.2 (0.5 lambda)", minimum=0)
    pool_size: int = _f(50, "Generated images kept to show the discriminators (half the time an older one).",
                        "Zhu 2017 §4 (50); Shrivastava 2017", minimum=0, maximum=1000)
