"""Self-describing network files: finished models and training checkpoints, both safetensors.

One file holds the tensors and, in the safetensors header's string metadata, a JSON document:

    {"format_version": 1, "kind": "model" | "checkpoint", "method": "johnson", "arch": {...},
     "config": {...}, "step": 1234, "card": {...}, "optimizer": {...}, "extra": {...}}

* A **model** (what we ship and what ``--model`` loads) keeps only the network's weights, by default in fp16
  (half the size; inference casts back to fp32), and a model card (style source and licence, data, steps,
  training time, metrics).
* A **checkpoint** (what ``--resume`` reads) keeps fp32 weights, the optimizer's state (tensors under
  ``optimizer/...``, the rest in JSON), the step, the RNG states and the training config, so that a killed
  run resumes where its last checkpoint left it.

In a training of several processes (``engine.distributed``) only rank 0 writes: the ranks hold the same
weights, and the other ranks' ``save_model``/``save_checkpoint`` return the path without writing, so a
trainer needs no rank test of its own.

Files are written atomically (temp file + rename): a run killed while saving leaves the previous file. Old
format versions keep loading: every version this code ever wrote is listed in ``READABLE_VERSIONS`` and a
version-1 file is kept as a test fixture.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from ..errors import AtelierError, WeightsError
from ..io import atomic_write
from ..paths import check_input_file
from . import distributed

FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
_META_KEY = "atelier"


def _write(path, tensors: dict[str, torch.Tensor], header: dict) -> Path:
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {_META_KEY: json.dumps(header, sort_keys=True)}
    # Serialised in memory, then written by Python: safetensors' own file writer reports a full disk as a
    # SafetensorError (a traceback), Python's as the OSError that atomic_write turns into one sentence.
    data = save(tensors, metadata=meta)
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def read(path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, header) of an atelier network file; one clear sentence if it is missing or not one."""
    from safetensors import SafetensorError, safe_open

    path = Path(path).expanduser()
    if not path.is_file():
        try:
            check_input_file(path, "model file")
        except AtelierError as err:
            raise WeightsError(str(err)) from None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not a dict
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"'{path}' is not a readable safetensors file ({err}).") from err
    try:
        header = json.loads(meta[_META_KEY])
    except (KeyError, json.JSONDecodeError) as err:
        raise WeightsError(f"'{path}' is a safetensors file but not an atelier model (no atelier header).") from err
    version = header.get("format_version")
    if version not in READABLE_VERSIONS:
        raise WeightsError(
            f"'{path}' has format version {version}; this atelier reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} (a newer atelier wrote it?)."
        )
    return tensors, header


def save_model(path, state: dict[str, torch.Tensor], *, method: str, arch: dict, config: dict | None = None,
               card: dict | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write a finished network: weights (fp16 by default; non-float buffers unchanged) + header (rank 0 only)."""
    if not distributed.is_main():
        return Path(path)
    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    header = {"format_version": FORMAT_VERSION, "kind": "model", "method": method, "arch": arch,
              "config": config or {}, "card": card or {}, "dtype": str(dtype).removeprefix("torch.")}
    return _write(path, tensors, header)


def load_model(path, *, method: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """(fp32 state dict, header) of a model or checkpoint file; checks the method if given."""
    tensors, header = read(path)
    if method is not None and header.get("method") != method:
        raise WeightsError(f"'{path}' holds a {header.get('method')!r} network, not a {method!r} one.")
    state = {k.removeprefix("model/"): v.float() if v.is_floating_point() else v
             for k, v in tensors.items() if not k.startswith("optimizer/")}
    return state, header


# ------------------------------------------------------------------------------------------- checkpoints


def _flatten_optimizer(sd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """torch optimizer state_dict -> (tensors, JSON-able rest)."""
    tensors, rest_state = {}, {}
    for idx, st in sd["state"].items():
        rest_state[str(idx)] = {}
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{idx}/{name}"] = value
            else:
                rest_state[str(idx)][name] = value
    return tensors, {"state": rest_state, "param_groups": sd["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in rest["state"].items()}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(path, *, method: str, arch: dict, config: dict, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, generator: torch.Generator | None = None,
                    extra: dict | None = None) -> Path:
    """Everything a run needs to continue: fp32 weights, optimizer state, step, RNG state, config (rank 0
    only). Nothing in it depends on the number of ranks: a run resumes with any number."""
    if not distributed.is_main():
        return Path(path)
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    header: dict[str, Any] = {"format_version": FORMAT_VERSION, "kind": "checkpoint", "method": method,
                              "arch": arch, "config": config, "step": step, "extra": extra or {}}
    if optimizer is not None:
        opt_tensors, header["optimizer"] = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
    if generator is not None:
        tensors["rng/generator"] = generator.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    return _write(path, tensors, header)


def load_checkpoint(path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    generator: torch.Generator | None = None, method: str | None = None) -> dict:
    """Restore a checkpoint into ``model`` (and optimizer, generator); returns its header."""
    tensors, header = read(path)
    if header.get("kind") != "checkpoint":
        raise WeightsError(f"'{path}' is a finished model, not a training checkpoint; it cannot be resumed.")
    if method is not None and header.get("method") != method:
        raise WeightsError(f"'{path}' is a {header.get('method')!r} checkpoint, not a {method!r} one.")
    state = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise WeightsError(f"'{path}' does not fit this network ({str(err).splitlines()[0]}).") from err
    if optimizer is not None and "optimizer" in header:
        optimizer.load_state_dict(_unflatten_optimizer(tensors, header["optimizer"]))
    if generator is not None and "rng/generator" in tensors:
        generator.set_state(tensors["rng/generator"])
    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"])
    return header


# ------------------------------------------------------------------------------------- loaded networks


class ModelCache:
    """Loaded networks by key (the methods use file, size, mtime, device, dtype): a second image loads
    nothing. Least recently used first out; thread-safe (the web app runs jobs in worker threads)."""

    def __init__(self, size: int = 4):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, load):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = load()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value
