"""The cut method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec, TrainerSpec, no_model_message, trained_summary
from .config import DEFAULT_MODEL, TEXT, CUTConfig
from .train_config import INPUTS, CUTTrainConfig

SPEC = MethodSpec(
    name="cut",
    summary=trained_summary("cut", TEXT, DEFAULT_MODEL),
    config_class=CUTConfig,
    capabilities=Capabilities(needs_style=False, video=True),  # the look of domain B is in the generator
    implementation="atelier.methods.cut.method:CUT",
    trainer=TrainerSpec(
        CUTTrainConfig, "atelier.methods.cut.train:train",
        "Train a one-sided translation A -> B between two unpaired folders with PatchNCE (FastCUT by default; "
        "Park et al. 2020): one generator, lighter than CycleGAN.", INPUTS),
    model_kinds=("cut",),
    no_model_message=no_model_message("cut", DEFAULT_MODEL, "--domain-a PHOTOS --domain-b PAINTINGS"),
    paper="Park, Efros, Zhang & Zhu 2020",
)
