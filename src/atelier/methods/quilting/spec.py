"""The quilting method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec
from .config import QuiltingConfig

SPEC = MethodSpec(
    name="quilting",
    summary="Efros & Freeman 2001: image quilting, blocks of the sample joined along minimum-error cuts; "
    "texture synthesis ('atelier texture') and texture transfer onto a photo (no network).",
    config_class=QuiltingConfig,
    capabilities=Capabilities(needs_style=True, masks=True, texture=True),
    implementation="atelier.methods.quilting.method:Quilting",
    network=False,  # classical: no trained network (provenance: algorithmicMedia)
    paper="Efros & Freeman 2001",
)
