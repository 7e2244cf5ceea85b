"""The cyclegan method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec, TrainerSpec, no_model_message, trained_summary
from .config import DEFAULT_MODEL, TEXT, CycleGANConfig
from .train_config import INPUTS, CycleGANTrainConfig

SPEC = MethodSpec(
    name="cyclegan",
    # Read when listed, so a long-running process (the web server) sees a model installed after it started.
    summary=trained_summary("cyclegan", TEXT, DEFAULT_MODEL),
    config_class=CycleGANConfig,
    # No painting: the look of domain B is in the trained generators (needs_style=False, as johnson).
    capabilities=Capabilities(needs_style=False, video=True),
    implementation="atelier.methods.cyclegan.method:CycleGAN",
    trainer=TrainerSpec(
        CycleGANTrainConfig, "atelier.methods.cyclegan.train:train",
        "Train CycleGAN between two unpaired folders (Zhu et al. 2017): two generators, A -> B and B -> A.",
        INPUTS),
    model_kinds=("cyclegan",),
    no_model_message=no_model_message("cyclegan", DEFAULT_MODEL, "--domain-a PHOTOS --domain-b PAINTINGS"),
    paper="Zhu, Park, Isola & Efros 2017",
)
