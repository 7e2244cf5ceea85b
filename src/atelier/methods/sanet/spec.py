"""The sanet method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import MethodSpec, TrainerSpec, no_model_message, trained_summary
from ..adain.spec import DECODER_INPUTS
from ..adain.spec import SPEC as ADAIN
from ..adain.train_config import INPUTS
from .config import DEFAULT_MODEL, TEXT, SANetConfig
from .train_config import SANetTrainConfig

SPEC = MethodSpec(
    name="sanet",
    summary=trained_summary("sanet", TEXT, DEFAULT_MODEL, noun="decoder"),
    config_class=SANetConfig,
    capabilities=ADAIN.capabilities,  # the same user controls (Park & Lee 2019 §4.3)
    implementation="atelier.methods.sanet.method:SANet",
    trainer=TrainerSpec(
        SANetTrainConfig, "atelier.methods.sanet.train:train",
        "Train SANet's style-attentional modules and decoder on folders of photos and paintings (Park & Lee "
        "2019); it then stylises with any painting in one pass.", INPUTS),
    model_kinds=("sanet",),
    no_model_message=no_model_message("sanet", DEFAULT_MODEL, DECODER_INPUTS, noun="decoder"),
    paper="Park & Lee 2019",
)
