"""The johnson method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec, TrainerSpec
from .config import TEXT, JohnsonConfig
from .train_config import JohnsonTrainConfig

SPEC = MethodSpec(
    name="johnson",
    summary=TEXT,
    config_class=JohnsonConfig,
    capabilities=Capabilities(needs_style=False, video=True, protect=True),
    implementation="atelier.methods.johnson.method:Johnson",
    trainer=TrainerSpec(
        JohnsonTrainConfig, "atelier.methods.johnson.train:train",
        "Train a feed-forward network for one style (Johnson et al. 2016); stylising is then one pass."),
    model_kinds=("johnson",),
    paper="Johnson, Alahi & Fei-Fei 2016",
)
