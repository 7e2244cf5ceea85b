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


def load_init(net: torch.nn.Module, path: Path, method: str) -> dict:
    """Copy a trained model's weights into ``net`` (--init): the same method's whole network (johnson, adain,
    sanet; wct decoder by decoder), or an AdaIN decoder into a network with a ``decoder`` (SANet's decoder has
    AdaIN's architecture) or into WCT's relu4_1/relu5_1 decoders. Returns what the card records: the file,
    its method and steps."""
    if not path.is_file():
        from ..weights import find_model, has_model

        if not has_model(str(path)):
            raise OptionError(f"--init: there is no model file or installed model '{path}'.")
        path = find_model(str(path))  # a bundled or user model by name, e.g. adain
    state, header = ckpt.load_model(path)
    source = header.get("method")
    card = header.get("card") or {}
    if source == method and hasattr(net, "init_from_wct"):  # WCT: decoder by decoder, where level and shape match
        started = net.init_from_wct(state)
        if not started:
            raise OptionError(f"--init: no decoder of '{path}' matches a decoder of this training (its levels or "
                              "--arch differ).")
        logger.info("Started %s from %s.", ", ".join(started), path)
        return {"file": path.name, "method": source, "steps": card.get("steps"), "decoders": started}
    if source == method:
        target = net
    elif source == "adain" and hasattr(net, "init_from_adain"):  # WCT: relu4_1's decoder, relu5_1's tail
        started = net.init_from_adain(state)
        if not started:
            raise OptionError(f"--init: the AdaIN decoder '{path}' ({header.get('arch')}) matches none of this "
                              "training's decoders (use --arch compact with a compact AdaIN decoder).")
        logger.info("Started %s from the AdaIN decoder %s.", ", ".join(started), path)
        return {"file": path.name, "method": source, "steps": card.get("steps"), "decoders": started}
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
    return {"file": path.name, "method": source, "steps": card.get("steps")}
