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
    if resume:
        _refuse_changed_options(output, options)
    return get_trainer(method)(style, data, output, config=config, resume=resume, callback=callback,
                               device=device, overwrite=overwrite)


def _refuse_changed_options(output, options: dict) -> None:
    """A resumed run continues the same training: an option given now that differs from the checkpoint's
    (other than the session's length and intervals) is refused in one sentence, not silently replaced."""
    import json

    from .errors import OptionError, WeightsError
    from .methods.train_checks import SESSION_FIELDS
    from .paths import checkpoint_path
    from .weights import read_header

    path = checkpoint_path(output)
    try:
        stored = read_header(path).get("config") or {}
    except WeightsError:
        return  # no or no readable checkpoint: the trainer says so
    norm = lambda v: json.loads(json.dumps(v))
    changed = sorted(k for k, v in options.items()
                     if k not in SESSION_FIELDS and k in stored and v is not None and norm(v) != stored[k])
    if changed:
        k = changed[0]
        free = ", ".join("--" + f.replace("_", "-") for f in SESSION_FIELDS)
        raise OptionError(f"The checkpoint '{path}' was trained with --{k.replace('_', '-')} {stored[k]}, not "
                          f"{options[k]}: resume with the same options (only {free} may change), or start again "
                          "with --overwrite.")
