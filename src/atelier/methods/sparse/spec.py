"""The sparse method's declaration (torch-free; read by ``atelier.methods``)."""

from .. import Capabilities, MethodSpec
from .config import SparseConfig

SPEC = MethodSpec(
    name="sparse",
    summary="Code the photo's patches sparsely over a K-SVD dictionary learnt from the painting "
            "(classical, no network; Aharon, Elad & Bruckstein 2006).",
    config_class=SparseConfig,
    capabilities=Capabilities(needs_style=True, masks=True),
    implementation="atelier.methods.sparse.method:Sparse",
    network=False,  # classical: no trained network (provenance: algorithmicMedia)
    paper="Aharon, Elad & Bruckstein 2006; Elad & Aharon 2006",
)
