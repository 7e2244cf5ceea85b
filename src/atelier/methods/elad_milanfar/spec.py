"""The elad_milanfar method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec
from .config import EladMilanfarConfig

SPEC = MethodSpec(
    name="elad_milanfar",
    summary="Style transfer via texture synthesis: multi-scale patch matching to the painting, robust "
            "aggregation and content fusion (classical, no network; Elad & Milanfar 2017).",
    config_class=EladMilanfarConfig,
    capabilities=Capabilities(needs_style=True, masks=True),
    implementation="atelier.methods.elad_milanfar.method:EladMilanfar",
    network=False,  # classical: no trained network (provenance: algorithmicMedia)
    paper="Elad & Milanfar 2017",
)
