"""Training configuration of the AdaIN decoder (no torch import; ``atelier train adain --help`` reads it).

Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", §6.2:
MS-COCO photos and WikiArt paintings, each resized to short side 512 and randomly cropped to 256x256;
Adam, batches of 8 pairs, lambda = 10 (eq. 11: content + lambda * style). SANet's training configuration
(``methods/sanet/train_config.py``) extends this one with its identity losses. Ranges and choices are declared
on the fields (checked when the config is made, ``atelier.options``); :meth:`AdaINTrainConfig.validate` keeps
the rules across fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import SEED_LIMIT, Config
from ...options import option as _f

# AdaIN's style loss layers (§6.2); the content loss is at relu4_1 against the AdaIN target.
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")

# What `atelier train adain` takes besides its options: photos and paintings, both folders (the CLI adds
# these as required options and passes them to ``train(style, data, ...)`` under ``dest``).
INPUTS = (
    {"flag": "--content-dir", "dest": "data", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of training photos, searched recursively (JPEG, PNG, WebP, TIFF, BMP)."},
    {"flag": "--style-dir", "dest": "style", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of training paintings, searched recursively; the more styles, the better the decoder "
             "generalises to paintings it never saw."},
)


@dataclass
class DecoderTrainConfig(Config):
    """What AdaIN's and SANet's trainings share (SANet's config extends this one)."""

    arch: str = _f(
        "compact", "Decoder size: 'compact' (128/64/32 channels, 0.87 M parameters; meant to train in a few "
        "hours on 2 CPU cores) or 'paper' (256/128/64, 3.5 M; mirrors VGG-19 to relu4_1).",
        "Huang 2017 §6.1", choices=("compact", "paper"),
    )
    upsample: str = _f(
        "nearest", "The decoder's upsampling: 'nearest' (the paper's) or 'bilinear' (prints no 8-px lattice of "
        "copied pixels for the convolutions to hide; same parameters, so --init from a nearest decoder works).",
        "Huang 2017 §6.1", choices=("nearest", "bilinear"),
    )
    size: int = _f(256, "Side of the square training crops in pixels.", "Huang 2017 §6.2 (256x256)",
                   minimum=32, multiple_of=16)
    steps: int = _f(8000, "Total training steps; a resumed run continues up to this count (raise it to train "
                    "further); 0 = no step limit (then give --minutes).", "Huang 2017 §6.2 (160000 on a GPU)",
                    minimum=0)
    minutes: float = _f(0.0, "Time budget of this session in minutes: stop cleanly before the step that would "
                        "exceed it (0 = no budget; with both, whichever comes first).", minimum=0)
    batch_size: int = _f(4, "Photo-painting pairs per training step, over all processes of a torchrun training (each "
                         "takes an equal share).", "Huang 2017 §6.2 (8)", minimum=1)
    lr: float = _f(1e-4, "Adam learning rate.", "Huang 2017 §6.2", above=0)
    lr_decay: float = _f(5e-5, "Learning-rate decay: the rate at step t is lr / (1 + lr_decay * t).",
                         "pytorch-AdaIN reference training script", minimum=0)
    content_weight: float = _f(1.0, "Weight of the content loss (decoded features against the AdaIN target).",
                               "Huang 2017 eq. 11-12", minimum=0)
    style_weight: float = _f(10.0, "Weight of the style loss (channel means and standard deviations).",
                             "Huang 2017 eq. 11, 13 (lambda)", minimum=0)
    content_scale: float = _f(2.0, "Scale augmentation of the photos: short side between --size and this times "
                              "--size before cropping (the paper resizes to 512 and crops 256: 2).",
                              "Huang 2017 §6.2", minimum=1.0, maximum=4.0)
    style_scale: float = _f(3.0, "Scale augmentation of the paintings (stronger than the photos': brush strokes "
                            "of every size), between 1 and 4.", minimum=1.0, maximum=4.0)
    precision: str = _f("auto", "Arithmetic of the VGG passes: 'auto' (bf16 where the hardware supports it, "
                        "else fp32), 'fp32' or 'bf16'; the decoder and its optimizer stay fp32.",
                        choices=("auto", "fp32", "bf16"))
    cache_mb: float = _f(1024.0, "Memory in MB for decoded, downsized training images (0 = decode every time).",
                         metavar="MB", minimum=0)
    checkpoint_every: int = _f(100, "Write the resumable checkpoint every N steps (also at the end and on "
                               "Ctrl-C); a killed run loses at most N steps.", minimum=0)
    preview_every: int = _f(100, "Stylise the first photo with the first painting every N steps (the CLI "
                            "writes MODEL.preview.png; 0 = never).", minimum=0)
    seed: int = _f(0, "Random seed of the initial weights, the crops and the pairing: same seed, same run.", minimum=0,
                   maximum=SEED_LIMIT - 1)
    init: str = _f("", "Start from a trained model (a file or an installed model's name) instead of random "
                   "weights: a model of the same method "
                   "(all of it) or, for sanet, an AdaIN decoder (its decoder); --arch must match. A resumed run "
                   "continues its checkpoint instead.", metavar="MODEL")
    weights: str = _f("pretrained", "VGG-19 weights: 'pretrained' (Caffe ImageNet) or 'random' (for tests).",
                      choices=("pretrained", "random"), cli=False)

    def validate(self) -> None:
        """Rules across fields (ranges and choices are on the fields, checked when the config is made)."""
        if self.steps == 0 and self.minutes <= 0:
            raise OptionError("Give --steps or --minutes (or both): training needs an end.")


@dataclass
class AdaINTrainConfig(DecoderTrainConfig):
    # Deviation (not in Huang 2017): the paper's losses compare the decoded image only in VGG features
    # (relu4_1 content, relu1_1..relu4_1 mean/std), which do not see a periodic pattern at relu4_1's 8-px
    # stride; the bundled decoder printed one even on the photo's own features
    # (benchmarks/results/grid_diagnosis.md). SANet's pixel identity loss (Park & Lee 2019 eq. 7) is the
    # same idea: the decoder must give the photo back from its own features.
    reconstruction_weight: float = _f(
        0.0, "Weight of a pixel reconstruction loss: the decoder given the photo's own relu4_1 features must "
        "give the photo back (mean squared error in 0-255 units, the scale of VGG's input and of the other terms; "
        "0 = the paper's losses only).", "Park 2019 eq. 7 (lambda_identity1)",
        minimum=0,
    )
