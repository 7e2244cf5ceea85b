"""The efros_leung method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec
from .config import EfrosLeungConfig

SPEC = MethodSpec(
    name="efros_leung",
    summary="Efros & Leung 1999: texture synthesis by non-parametric sampling, pixel by pixel from the sample's "
    "matching neighbourhoods ('atelier texture'); fills holes in a photo (--mask).",
    config_class=EfrosLeungConfig,
    capabilities=Capabilities(needs_style=False, texture=True, tileable=True, fill=True),
    implementation="atelier.methods.efros_leung.method:EfrosLeung",
    network=False,  # classical: no trained network (provenance: algorithmicMedia)
    paper="Efros & Leung 1999",
)
