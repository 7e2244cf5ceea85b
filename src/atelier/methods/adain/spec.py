"""The adain method's declaration (torch-free; read by ``atelier.methods``)."""

from functools import partial

from .. import Capabilities, MethodSpec, TrainerSpec
from .config import DEFAULT_MODEL, TEXT, AdaINConfig, no_decoder_message, summary
from .train_config import INPUTS, AdaINTrainConfig

SPEC = MethodSpec(
    name="adain",
    # Read when listed, so a long-running process (the web server) sees a decoder installed after it started.
    summary=partial(summary, "adain", TEXT, DEFAULT_MODEL),
    config_class=AdaINConfig,
    capabilities=Capabilities(needs_style=True, multiple_styles=True, masks=True, video=True, protect=True,
                              style_masks=True),
    implementation="atelier.methods.adain.method:AdaIN",
    trainer=TrainerSpec(
        AdaINTrainConfig, "atelier.methods.adain.train:train",
        "Train an AdaIN decoder on folders of photos and paintings (Huang & Belongie 2017); it then stylises "
        "with any painting in one pass.", INPUTS),
    model_kinds=("adain",),
    no_model_message=no_decoder_message("adain", DEFAULT_MODEL),
    paper="Huang & Belongie 2017",
)
