"""The gatys method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec
from .config import GatysConfig

SPEC = MethodSpec(
    name="gatys",
    summary="Optimise the pixels to match VGG-19 content features and Gram statistics (Gatys et al. 2016).",
    config_class=GatysConfig,
    capabilities=Capabilities(needs_style=True, multiple_styles=True, masks=True, video=True,
                              temporal_loss=True, snapshots=True, texture=True,
                              scale_mix=True, protect=True, style_masks=True),
    implementation="atelier.methods.gatys.method:Gatys",
    paper="Gatys, Ecker & Bethge 2016; Gatys et al. 2017; textures: Gatys, Ecker & Bethge 2015",
)
