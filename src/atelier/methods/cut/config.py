"""Configuration of CUT inference (torch-free): johnson's options; the model holds one generator A -> B."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import option as _f
from ..johnson.config import JohnsonConfig

DEFAULT_MODEL = "cut"


@dataclass
class CUTConfig(JohnsonConfig):
    model: str = _f(
        DEFAULT_MODEL, "Trained CUT generator: a bundled or user model's name, or the path of a .safetensors "
        "file from 'atelier train cut' (or its .onnx export).", "Park 2020 §3", metavar="NAME|PATH", basic=True,
    )


TEXT = ("Translate a photo into the look of a collection with a one-sided generator trained by patch-wise "
        "contrastive learning (CUT/FastCUT, Park et al. 2020); takes no painting, needs 'atelier train cut'.")


def no_model_message() -> str:
    return (f"No cut model is installed yet: train one with 'atelier train cut --domain-a PHOTOS --domain-b "
            f"PAINTINGS -o {DEFAULT_MODEL}.safetensors' and pass --model {DEFAULT_MODEL}.safetensors (or copy it "
            f"to $ATELIER_HOME/models/ to make it the default).")


def summary() -> str:
    """The one-line summary, saying when no default model is installed (a manifest read, no torch)."""
    from ...weights import has_model

    try:
        ready = has_model(DEFAULT_MODEL)
    except Exception:  # noqa: BLE001 - a listing must not fail on a damaged manifest; stylize will say why
        ready = True
    return TEXT if ready else f"{TEXT} No model is bundled yet: train one with 'atelier train cut'."
