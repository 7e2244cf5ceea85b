"""The public training API: ``atelier.train("johnson", style, data, output, **options)``.

Dispatches by method name through the trainer registry (``atelier.methods.get_trainer``), so front ends
need no method-specific import. Options are the fields of the method's training config dataclass
(``atelier.trainer_spec(name).config_class``), e.g. ``size``, ``steps``, ``minutes``, ``style_strength``.
"""

from __future__ import annotations

from .events import Callback
from .methods import get_trainer, make_config, trainer_spec


def train(method: str, style, data, output, *, resume: bool = False, overwrite: bool = False, device="auto",
          callback: Callback | None = None, **options) -> dict:
    """Train a ``method`` network for the style image ``style`` on the photos under ``data`` (a folder or a
    list of folders) and write the model to ``output`` (``.safetensors``) with its checkpoint beside it.

    ``resume=True`` continues from that checkpoint (to ``steps`` in total, or for ``minutes`` more);
    ``callback`` receives :mod:`atelier.events` (``Progress.image`` is the preview when one was made).
    Returns a summary dict (output, checkpoint, steps, seconds, losses, stopped_by, card). Bad inputs raise
    ``atelier.errors`` before any work; Ctrl-C writes the checkpoint and raises ``Interrupted``.
    """
    config = make_config(trainer_spec(method).config_class, options)
    return get_trainer(method)(style, data, output, config=config, resume=resume, callback=callback,
                               device=device, overwrite=overwrite)
