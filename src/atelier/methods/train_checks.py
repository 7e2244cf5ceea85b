"""What every trainer checks before training: output paths, and the config of a resumed run.

Shared by ``johnson/train.py`` and ``arbitrary_train.py`` (AdaIN, SANet, WCT): one sentence per refused output,
nothing written; a resumed run takes its training config from the checkpoint; ``--init`` starts a new run from
a trained model's weights.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from ..engine import checkpoint as ckpt
from ..errors import OptionError, OutputError
from ..io import check_derived
from ..paths import checkpoint_path, preview_path
from . import make_config

logger = logging.getLogger(__name__)

# Fields a resumed run may change (how long, how often to save or preview); the others come from the
# checkpoint, so the run continues the same training.
SESSION_FIELDS = ("steps", "minutes", "checkpoint_every", "preview_every", "cache_mb")


def same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_paths(folders: list[Path], output: Path, *, resume: bool, overwrite: bool, preview: bool = True) -> None:
    """One clear sentence for every output that may not be written; nothing is written here. ``folders``:
    the inputs (the style image, the data folders). Beside the model: its checkpoint and, with ``preview``,
    ``MODEL.preview.png`` (``paths.preview_path``), each checked like the model (never an input; not
    replaced without ``overwrite``, except by the run a ``resume`` continues)."""
    derived = [checkpoint_path(output)] + ([preview_path(output)] if preview else [])
    check_derived(derived, inputs=folders, overwrite=True)  # never an input, not even when resuming
    if output.suffix != ".safetensors":
        raise OutputError(f"The model file '{output}' must end in .safetensors.")
    if output.is_dir():
        raise OutputError(f"Cannot write '{output}': it is a directory.")
    if any(same_path(output, f) for f in folders):
        raise OutputError(f"Refusing to write '{output}': it is one of the inputs.")
    ckpt_file = checkpoint_path(output)
    if resume:
        if not ckpt_file.is_file():
            raise OptionError(f"Cannot resume: there is no checkpoint '{ckpt_file}' beside '{output}'.")
        return
    if output.exists() and not overwrite:
        raise OutputError(f"Output '{output}' already exists (use --overwrite to replace it, or --resume to "
                          "train it further).")
    if ckpt_file.exists() and not overwrite:
        raise OutputError(f"A checkpoint of an earlier run exists at '{ckpt_file}': continue it with --resume "
                          "or start again with --overwrite.")
    check_derived(derived[1:], overwrite=overwrite)  # a preview of another run, or the user's file


def resumed_config(config, path: Path, method: str):
    """The checkpoint's config with this session's run-length fields (SESSION_FIELDS)."""
    _, header = ckpt.read(path)
    if header.get("method") != method or header.get("kind") != "checkpoint":
        raise OptionError(f"'{path}' is not a {method} training checkpoint.")
    stored = dict(header.get("config") or {})
    given = dataclasses.asdict(config)
    differs = sorted(k for k in stored if k not in SESSION_FIELDS and k in given and stored[k] != given[k])
    if differs:
        logger.warning("Resuming with the checkpoint's %s (the values given now are ignored).", ", ".join(differs))
    stored.update({k: given[k] for k in SESSION_FIELDS})
    cfg = make_config(type(config), {k: v for k, v in stored.items() if k in given})
    cfg.validate()
    return cfg


def init_model_path(name: str | Path) -> Path:
    """The model file ``--init`` names: a file, or an installed model's name (e.g. adain); one sentence if
    it is neither."""
    from ..weights import find_model, has_model

    path = Path(name).expanduser()
    if path.is_file():
        return path
    if not has_model(str(name)):
        raise OptionError(f"--init: there is no model file or installed model '{name}'.")
    return find_model(str(name))


def load_init(net: torch.nn.Module, name: str | Path, method: str) -> dict:
    """Copy a trained model's weights into ``net`` (--init): the same method's whole network (johnson, adain,
    sanet), or an AdaIN decoder into a network with a ``decoder`` (SANet's decoder has AdaIN's architecture).
    WCT starts decoder by decoder (``init_from_wct``: a wct model's decoders where level and shapes match;
    ``init_from_adain``: relu4_1's decoder and relu5_1's tail). Returns what the card records: the file, its
    method and steps (and the decoders started)."""
    path = init_model_path(name)
    state, header = ckpt.load_model(path)
    source, card = header.get("method"), header.get("card") or {}
    record = {"file": path.name, "method": source, "steps": card.get("steps")}
    hook = "init_from_wct" if source == method else "init_from_adain" if source == "adain" else None
    if hook and hasattr(net, hook):
        started = getattr(net, hook)(state)
        if not started:
            raise OptionError(f"--init: no decoder of '{path}' ({source}, {header.get('arch')}) matches a decoder "
                              "of this training: their levels or --arch differ (an AdaIN decoder starts only a "
                              "compact relu4_1/relu5_1 decoder).")
        logger.info("Started %s from %s (%s).", ", ".join(started), path, source)
        return {**record, "decoders": started}
    if source == method:
        target = net
    elif source == "adain" and hasattr(net, "decoder"):
        target, state = net.decoder, {k.removeprefix("decoder."): v for k, v in state.items()}
    else:
        raise OptionError(f"--init: '{path}' holds a {source!r} network, which cannot start a {method} training.")
    try:
        target.load_state_dict(state)
    except RuntimeError as err:
        raise OptionError(f"--init: '{path}' has another architecture ({header.get('arch')}) than this training's "
                          f"--arch.") from err
    logger.info("Starting from %s (%s, %s steps).", path, source, card.get("steps", "?"))
    return record
