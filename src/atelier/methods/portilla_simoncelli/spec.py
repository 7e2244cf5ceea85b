"""The portilla_simoncelli method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec
from .config import PortillaSimoncelliConfig

SPEC = MethodSpec(
    name="portilla_simoncelli",
    summary="Textures (and a painting's texture on a photo) by matching the joint statistics of a complex "
            "steerable pyramid: no network (Portilla & Simoncelli 2000).",
    config_class=PortillaSimoncelliConfig,
    # Iterative, so intermediate images exist (snapshots). The pyramid is periodic: every texture wraps.
    capabilities=Capabilities(needs_style=True, snapshots=True, texture=True, tileable=True),
    implementation="atelier.methods.portilla_simoncelli.method:PortillaSimoncelli",
    network=False,  # classical: no trained network (provenance: algorithmicMedia)
    paper="Portilla & Simoncelli 2000",
)
