"""The adain method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec, TrainerSpec, no_model_message, trained_summary
from .config import DEFAULT_MODEL, TEXT, AdaINConfig
from .train_config import INPUTS, AdaINTrainConfig

# How the 'no decoder' message tells users to train one (sanet's trainer takes the same folders).
DECODER_INPUTS = "--content-dir PHOTOS --style-dir PAINTINGS"

SPEC = MethodSpec(
    name="adain",
    # Read when listed, so a long-running process (the web server) sees a decoder installed after it started.
    summary=trained_summary("adain", TEXT, DEFAULT_MODEL, noun="decoder"),
    config_class=AdaINConfig,
    capabilities=Capabilities(needs_style=True, multiple_styles=True, masks=True, video=True, protect=True,
                              style_masks=True),
    implementation="atelier.methods.adain.method:AdaIN",
    trainer=TrainerSpec(
        AdaINTrainConfig, "atelier.methods.adain.train:train",
        "Train an AdaIN decoder on folders of photos and paintings (Huang & Belongie 2017); it then stylises "
        "with any painting in one pass.", INPUTS),
    model_kinds=("adain",),
    no_model_message=no_model_message("adain", DEFAULT_MODEL, DECODER_INPUTS, noun="decoder"),
    paper="Huang & Belongie 2017",
)
