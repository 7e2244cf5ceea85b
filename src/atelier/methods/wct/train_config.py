"""Training configuration of WCT's reconstruction decoders (no torch import; read by ``atelier train wct
--help``).

Li, Fang, Yang, Wang, Lu & Yang 2017, "Universal Style Transfer via Feature Transforms", §3.1: each decoder
is trained to invert VGG-19 up to its layer on MS-COCO photos, with the loss
L = ||I_o - I_i||^2 + lambda ||Phi(I_o) - Phi(I_i)||^2 (pixels, and the features at that layer), lambda = 1.
The five decoders train together here, on one stream of photo crops (one VGG pass gives every level's
target). Ranges and choices are declared on the fields (``atelier.options``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import SEED_LIMIT, Config
from ...options import option as _f

# What `atelier train wct` takes besides its options: photos only (no painting is ever seen).
INPUTS = (
    {"flag": "--data", "dest": "data", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of training photos, searched recursively (JPEG, PNG, WebP, TIFF, BMP)."},
)


@dataclass
class WCTTrainConfig(Config):
    arch: str = _f(
        "compact", "Decoder sizes: 'compact' (about half the paper's channels; relu4_1's is AdaIN's compact "
        "decoder, so --init adain starts it and relu5_1's tail) or 'paper' (mirrors VGG-19 at every level).",
        "Li 2017 §3.1", choices=("compact", "paper"),
    )
    levels: list[int] = _f([5, 4, 3, 2, 1], "Which decoders to train: 1 = relu1_1 ... 5 = relu5_1. With --init "
                           "a wct model, its other decoders are written unchanged beside them (e.g. --levels 3 "
                           "trains relu3_1's decoder further and keeps the rest).",
                           "Li 2017 §3.1", minimum=1, maximum=5, metavar="LEVEL")
    size: int = _f(256, "Side of the square training crops in pixels.", "Li 2017 §4 (COCO crops)",
                   minimum=32, multiple_of=16)
    steps: int = _f(4000, "Total training steps; a resumed run continues up to this count (raise it to train "
                    "further); 0 = no step limit (then give --minutes).", minimum=0)
    minutes: float = _f(0.0, "Time budget of this session in minutes: stop cleanly before the step that would "
                        "exceed it (0 = no budget; with both, whichever comes first).", minimum=0)
    batch_size: int = _f(4, "Photos per training step, over all processes of a torchrun training (each "
                         "takes an equal share).", minimum=1)
    lr: float = _f(1e-4, "Adam learning rate.", above=0)
    lr_decay: float = _f(5e-5, "Learning-rate decay: the rate at step t is lr / (1 + lr_decay * t).", minimum=0)
    pixel_weight: float = _f(1.0, "Weight of the pixel reconstruction loss (squared error relative to the "
                             "photo's, ||y - x||^2 / ||x||^2).", "Li 2017 §3.1", minimum=0)
    feature_weight: float = _f(1.0, "Weight of the feature reconstruction loss at each decoder's own layer "
                               "(lambda; relative squared error, as the pixels').", "Li 2017 §3.1 (lambda = 1)",
                               minimum=0)
    content_scale: float = _f(2.0, "Scale augmentation: short side between --size and this times --size before "
                              "cropping.", minimum=1.0, maximum=4.0)
    precision: str = _f("auto", "Arithmetic of the VGG passes: 'auto' (bf16 where the hardware supports it, "
                        "else fp32), 'fp32' or 'bf16'; the decoders and their optimizer stay fp32.",
                        choices=("auto", "fp32", "bf16"))
    cache_mb: float = _f(1024.0, "Memory in MB for decoded, downsized training photos (0 = decode every time).",
                         metavar="MB", minimum=0)
    checkpoint_every: int = _f(100, "Write the resumable checkpoint every N steps (also at the end and on "
                               "Ctrl-C); a killed run loses at most N steps.", minimum=0)
    preview_every: int = _f(100, "Reconstruct the first photo through the deepest decoder every N steps (the "
                            "CLI writes MODEL.preview.png; 0 = never).", minimum=0)
    seed: int = _f(0, "Random seed of the initial weights and the crops: same seed, same run.", minimum=0,
                   maximum=SEED_LIMIT - 1)
    init: str = _f("", "Start from a trained model (a file or an installed model's name): a wct model (every "
                   "decoder whose level and shape match) or an AdaIN compact decoder (relu4_1's decoder and "
                   "relu5_1's tail). A resumed run continues its checkpoint instead.", metavar="MODEL")
    weights: str = _f("pretrained", "VGG-19 weights: 'pretrained' (Caffe ImageNet) or 'random' (for tests).",
                      choices=("pretrained", "random"), cli=False)

    def validate(self) -> None:
        if self.steps == 0 and self.minutes <= 0:
            raise OptionError("Give --steps or --minutes (or both): training needs an end.")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise OptionError("--levels needs one or more different levels (1 to 5).")
        if self.pixel_weight == 0 and self.feature_weight == 0:
            raise OptionError("--pixel-weight and --feature-weight cannot both be 0: nothing would be learnt.")
