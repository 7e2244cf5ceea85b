"""The wct method's declaration (torch-free; read by ``atelier.methods``)."""

from dataclasses import replace

from .. import MethodSpec, TrainerSpec, no_model_message, trained_summary
from ..adain.spec import SPEC as ADAIN
from .config import DEFAULT_MODEL, TEXT, WCTConfig
from .train_config import INPUTS, WCTTrainConfig

SPEC = MethodSpec(
    name="wct",
    summary=trained_summary("wct", TEXT, DEFAULT_MODEL, noun="decoder"),
    config_class=WCTConfig,
    # alpha, several styles, masks, colour, tiles, video (Li 2017 §4); and one style per level (scale_mix):
    # each level's transform colours with its own painting's statistics (coarse levels from one, fine from another)
    capabilities=replace(ADAIN.capabilities, scale_mix=True),
    implementation="atelier.methods.wct.method:WCT",
    trainer=TrainerSpec(
        WCTTrainConfig, "atelier.methods.wct.train:train",
        "Train WCT's five reconstruction decoders on a folder of photos (Li et al. 2017); no painting is "
        "needed: any style then works.", INPUTS),
    model_kinds=("wct",),
    no_model_message=no_model_message("wct", DEFAULT_MODEL, "--data PHOTOS", noun="decoder"),
    paper="Li et al. 2017",
)
