"""Training configuration of Johnson et al. 2016 feed-forward style networks (no torch import).

``atelier train johnson --help`` builds its options from :class:`JohnsonTrainConfig` without importing torch
(this module is read by ``atelier.methods.trainer_spec``). The ``help`` texts are the CLI's; ``paper`` says
where an option comes from: Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer
and Super-Resolution" (ECCV), §3 (losses) and §4.1 (training details). Ranges and choices are declared on
the fields (checked when the config is made, ``atelier.options``); :meth:`JohnsonTrainConfig.validate` keeps
the rules across fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import SEED_LIMIT, VGG19_LAYERS, Config
from ...options import option as _f

# Johnson et al. use VGG-16 relu2_2 for content and relu1_2, relu2_2, relu3_3, relu4_3 for style. Deviation:
# atelier has one VGG (VGG-19, see atelier.features), which has layers of the same names; in VGG-19 relu3_3
# and relu4_3 are the third of four convolutions of their blocks rather than the last, so the features are
# slightly less deep than VGG-16's. relu1_2/relu2_2 are identical in structure (different trained weights).
CONTENT_LAYERS = ("relu2_2",)
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


@dataclass
class JohnsonTrainConfig(Config):
    arch: str = _f(
        "compact", "Network size: 'compact' (16/32/64 channels, 3 residual blocks, 0.28 M parameters; ~0.8 s "
        "per step on 2 CPU cores, so 2000 steps take ~30 min) or 'paper' (32/64/128, 5 blocks, 1.68 M; ~1.4x "
        "slower to train and run).", "Johnson 2016 suppl. Table 1", choices=("compact", "paper"),
    )
    upsample: str = _f(
        "nearest", "The network's upsampling before each of its two up-convolutions: 'nearest' (as trained "
        "so far) or 'bilinear' (no 4-px lattice of copied pixels for the convolutions to hide).",
        "Odena 2016 (resize-convolution)", choices=("nearest", "bilinear"),
    )
    size: int = _f(256, "Side of the square training crops in pixels (192 trains ~1.7x faster).",
                   "Johnson 2016 §4.1 (256x256)", minimum=16, multiple_of=4)
    steps: int = _f(2000, "Total training steps; a resumed run continues up to this count (raise it to train "
                    "further); 0 = no step limit (then give --minutes).", "Johnson 2016 §4.1 (40000 on a GPU)",
                    minimum=0)
    minutes: float = _f(0.0, "Time budget of this session in minutes: stop cleanly before the step that would "
                        "exceed it (0 = no budget; with both, whichever comes first).", minimum=0)
    batch_size: int = _f(4, "Photos per training step, over all processes of a torchrun training (each "
                         "takes an equal share).", "Johnson 2016 §4.1", minimum=1)
    lr: float = _f(1e-3, "Adam learning rate.", "Johnson 2016 §4.1", above=0)
    style_strength: float = _f(1.0, "How strongly the style is imposed; 1 is the default, 2 twice as strong.",
                               "Johnson 2016 eq. 6 (lambda_s)", minimum=0)
    content_weight: float = _f(1.0, "Weight of the content (feature reconstruction) loss.",
                               "Johnson 2016 eq. 6 (lambda_c)", minimum=0)
    tv_weight: float = _f(1e-3, "Weight of the total-variation smoothness term.", "Johnson 2016 §3.3",
                          minimum=0)
    style_size: int = _f(256, "Long side in pixels of the style image when its Gram targets are computed; "
                         "larger gives smaller brush strokes relative to the photo.", "Johnson 2016 §4.1",
                         minimum=16)
    content_layers: list[str] = _f(list(CONTENT_LAYERS), "VGG-19 layers of the content loss.",
                                   "Johnson 2016 §3.1", metavar="LAYER", names=VGG19_LAYERS)
    style_layers: list[str] = _f(list(STYLE_LAYERS), "VGG-19 layers of the style loss.", "Johnson 2016 §3.2",
                                 metavar="LAYER", names=VGG19_LAYERS)
    # bf16 only where the hardware has bf16 dot products (AVX512-BF16/AMX CPUs, CUDA with bf16): there the
    # frozen VGG passes, ~80 % of a step, run ~2x faster (docs PERFORMANCE.md); elsewhere bf16 is emulated
    # and slower than fp32. The network and its optimizer always stay fp32.
    precision: str = _f("auto", "Arithmetic of the VGG loss passes: 'auto' (bf16 where the hardware supports "
                        "it, else fp32), 'fp32' or 'bf16'.", choices=("auto", "fp32", "bf16"))
    max_scale: float = _f(1.0, "Scale augmentation: photos are seen with their short side between --size and "
                          "this times --size (1 = no augmentation, as in the paper).",
                          minimum=1.0, maximum=4.0)
    cache_mb: float = _f(1024.0, "Memory in MB for decoded, downsized training photos (0 = decode every time).",
                         metavar="MB", minimum=0)
    checkpoint_every: int = _f(100, "Write the resumable checkpoint every N steps (also at the end and on "
                               "Ctrl-C); a killed run loses at most N steps.", minimum=0)
    preview_every: int = _f(100, "Stylise the preview photo every N steps (the CLI writes MODEL.preview.png; "
                            "0 = never).", minimum=0)
    seed: int = _f(0, "Random seed of the network's initial weights and of the crops: same seed, same run.", minimum=0,
                   maximum=SEED_LIMIT - 1)
    init: str = _f("", "Start from a trained johnson model (a file, or an installed model's name such as "
                   "the_scream) of the same --arch and --upsample: a new run from its weights (fresh optimizer, "
                   "steps counted from 0), e.g. to tune a bundled model with another --content-weight. A resumed "
                   "run continues its checkpoint instead.", metavar="MODEL")
    weights: str = _f("pretrained", "VGG-19 weights: 'pretrained' (Caffe ImageNet) or 'random' (for tests).",
                      choices=("pretrained", "random"), cli=False)

    def validate(self) -> None:
        """Rules across fields (ranges and choices are on the fields, checked when the config is made)."""
        if self.steps == 0 and self.minutes <= 0:
            raise OptionError("Give --steps or --minutes (or both): training needs an end.")
        if not self.content_layers or not self.style_layers:
            raise OptionError("--content-layers and --style-layers need at least one layer each.")
