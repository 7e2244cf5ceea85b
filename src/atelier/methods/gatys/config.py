"""Configuration of the Gatys et al. method: every field typed, defaulted and documented.

The ``help`` texts are what ``atelier stylize --help`` and the web form show; ``paper`` says where the
option comes from. Ranges and choices are declared on the fields (checked when the config is made, ``atelier.options``);
:meth:`GatysConfig.validate` keeps the rules across fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError
from ...options import VGG19_LAYERS, Config, check_style_weights
from ...options import option as _f

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass
class GatysConfig(Config):
    size: int = _f(512, "Long side of the output image in pixels.", minimum=16, basic=True, texture=False)
    iterations: int = _f(
        40, "Optimisation steps at the final size (the coarser scales: --coarse-iterations, --coarse-growth).",
        "Gatys 2016 §3", minimum=1, basic=True,
    )
    coarse_iterations: int = _f(50, "Optimisation steps at the scale below the output size; each coarser scale "
                                "runs --coarse-growth times as many as the next finer one.", minimum=0)
    coarse_growth: float = _f(
        2.0, "Iterations of each coarser scale relative to the next finer one (its steps cost 4x less); "
        "1 = --coarse-iterations at every coarser scale.", minimum=1, maximum=4,
    )
    min_size: int = _f(
        64, "Long side of the coarsest scale; sizes double up to --size (set it to --size for one scale).",
        "Gatys 2017 §5 (coarse-to-fine)", minimum=1,
    )
    tolerance: float = _f(
        5e-3, "Stop a scale early when the loss improved by less than this fraction over the last 20 steps "
        "(0 disables).", minimum=0,
    )
    # 1.7 since round 2 (was 1.0), with the schedule above (was 100 final steps, 50 per coarser scale from
    # 128 px): the README's main job in ~60 s instead of ~160 s at no worse distances on the embedded
    # pair (benchmarks/results/main_job.md). The old defaults: --iterations 100 --min-size 128
    # --coarse-growth 1 --content-weight 1.
    content_weight: float = _f(1.7, "Weight of the content loss (keeps the photo's structure).", "Gatys 2016 eq. 7",
                               minimum=0, texture=False)
    style_strength: float = _f(
        1.0, "How strongly the painting's style is imposed; 1 is the tuned default, 2 twice as strong.",
        "Gatys 2016 eq. 7 (beta)", minimum=0, basic=True,
    )
    style_weights: list[float] | None = _f(
        None, "Blend weights of several styles, one per style image (normalised to sum to 1).",
        "Gatys 2016 §3 (style mixing)", minimum=0,
    )
    tv_weight: float = _f(
        1e-3, "Weight of the total-variation smoothness term (reduces high-frequency noise).",
        "Mahendran & Vedaldi 2015", minimum=0,
    )
    style_scale: float = _f(
        1.0, "Size of the painting's brush strokes relative to the output (the style image is resized to "
        "this times the output's area per side); larger gives bigger strokes.", "Gatys 2017 §5", above=0,
    )
    preserve_color: str = _f(
        "none", "Keep the photo's colours: 'luminance' transfers the style on brightness only; 'histogram' "
        "recolours the painting to the photo's colours first.", "Gatys 2017 §3",
        choices=("none", "luminance", "histogram"), basic=True, texture=False,
    )
    init: str = _f(
        "content", "Start image: 'content' (the photo), 'random' (seeded noise) or the path of an image.",
        "Gatys 2016 §3", metavar="content|random|PATH", or_file=("content", "random"), texture=False,
    )
    optimizer: str = _f("lbfgs", "Optimiser of the pixels: 'lbfgs' (fast convergence) or 'adam'.",
                        choices=("lbfgs", "adam"))
    lr: float | None = _f(None, "Step size; default 1.0 for L-BFGS and 0.02 for Adam.", above=0)
    pooling: str = _f("max", "VGG pooling: 'max' or 'avg' (the paper found avg slightly smoother).",
                      "Gatys 2016 §2", choices=("max", "avg"))
    content_layers: list[str] = _f(["relu4_2"], "VGG-19 layers of the content loss.", "Gatys 2016 §3",
                                   metavar="LAYER", names=VGG19_LAYERS, texture=False)
    style_layers: list[str] = _f(list(STYLE_LAYERS), "VGG-19 layers of the style loss.", "Gatys 2016 §3",
                                 metavar="LAYER", names=VGG19_LAYERS)
    style_layer_weights: list[float] | None = _f(
        None, "Weights of the style layers (default: equal), normalised to sum to 1.", "Gatys 2016 eq. 5",
        minimum=0,
    )
    style_loss: str = _f(
        "gram", "The style term: 'gram' (global feature correlations) or 'mrf' (each 3x3 feature patch of the "
        "result pulled to its most similar patch of the painting at relu3_1 and relu4_1, the other style "
        "layers keeping their Gram terms; slower, keeps local structures such as eyes or strokes whole).",
        "Li & Wand 2016 (CNNMRF)", choices=("gram", "mrf"),
    )
    mrf_stride: int = _f(
        2, "With --style-loss mrf: take every Nth patch of the painting (1 = all; 2 keeps a quarter, about "
        "3x less time per step at 512 px).", "Li & Wand 2016", minimum=1, maximum=4,
    )
    precision: str = _f("fp32", "Arithmetic of the VGG passes: 'fp32' or 'bf16' (faster on CPUs with bf16).",
                        choices=("fp32", "bf16"))
    max_memory: float = _f(
        8.0, "Memory budget in GiB for one scale's network activations; larger scales are processed in tiles "
        "(same result up to the halo's reach, bounded memory).", metavar="GIB", above=0,
    )
    tile: int = _f(0, "Force tiles of this many pixels per side (multiple of 16); 0 = only when over --max-memory.",
                   minimum=0, multiple_of=16)
    halo: int = _f(64, "Pixels of context around each tile (multiple of 16); more means fewer seams, more work.",
                   minimum=0, multiple_of=16)
    weights: str = _f("pretrained", "VGG-19 weights: 'pretrained' (Caffe ImageNet) or 'random' (for tests).",
                      choices=("pretrained", "random"), cli=False)

    def validate(self, n_styles: int = 1) -> None:
        """Rules across fields and the run's style count (ranges and choices are on the fields)."""
        check_style_weights(self.style_weights, n_styles)
        if self.style_loss == "mrf":
            if not set(self.style_layers) & {"relu3_1", "relu4_1"}:  # losses.MRF_LAYERS (torch-free here)
                raise OptionError("--style-loss mrf acts at relu3_1 and relu4_1: put one of them in --style-layers.")
            if self.tile:
                raise OptionError("--style-loss mrf matches patches over the whole image and cannot run in "
                                  "--tile tiles; leave --tile at 0.")
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise OptionError(
                f"--style-layer-weights has {len(self.style_layer_weights)} value(s) for "
                f"{len(self.style_layers)} style layer(s)."
            )

