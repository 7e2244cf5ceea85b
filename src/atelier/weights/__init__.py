"""Trained networks: the bundled ones (with a manifest) and the user's, found by name or path.

``find_model(name_or_path)`` resolves, in this order:

1. an existing file (``.safetensors`` from ``atelier train`` / ``save_model``, or ``.onnx`` from
   ``atelier export``);
2. a bundled model: an entry of ``weights/<method>/manifest.json`` (johnson's style networks; the
   arbitrary-style decoders of adain and sanet: name, file, method, sha256, style or data, licence, card);
   its SHA-256 is checked before use, so a damaged install fails with one sentence;
3. a user model: ``$ATELIER_HOME/models/NAME.safetensors`` (or ``NAME.onnx``).

A name that is none of these, or a path that does not exist, raises :class:`~atelier.errors.OptionError`
listing the available names. ``list_models()`` lists both kinds with the card stored in each file's header.

Torch-free on purpose (``atelier models`` must start fast): a safetensors header is 8 bytes of length and
a JSON document, read here directly; ONNX metadata is read with ``onnx`` (no torch).
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import AtelierError, OptionError, WeightsError
from ..paths import check_input_file, file_sha256

logger = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".onnx")
_META_KEY = "atelier"  # the key of the JSON header in safetensors / ONNX metadata (engine.checkpoint)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    method: str
    bundled: bool
    card: dict = field(default_factory=dict)  # from the file's header (style, steps, training time, ...)
    error: str | None = None  # set when the file's header cannot be read


def bundled_dir() -> Path:
    """johnson's bundled models (the first manifest; tests replace it)."""
    return Path(str(resources.files("atelier") / "weights" / "johnson"))


def _bundle_dirs() -> list[Path]:
    # Every other folder of weights/ (adain, sanet, wct, ...) is a bundle with its own manifest.json.
    base = Path(str(resources.files("atelier") / "weights"))
    others = sorted(d for d in base.iterdir() if d.is_dir() and d.name != "johnson" and not d.name.startswith("_"))
    return [bundled_dir(), *others]


def user_models_dir() -> Path:
    """Where user models live: ``atelier_home()/models``."""
    from ..paths import atelier_home

    return atelier_home() / "models"


def _manifest() -> list[dict]:
    """Every bundled entry, each with ``_dir``, the folder its ``file`` is in. johnson's manifest must be
    readable; the other bundles' may be absent (nothing bundled there)."""
    entries = []
    for i, folder in enumerate(_bundle_dirs()):
        path = folder / "manifest.json"
        if i > 0 and not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise WeightsError(f"The bundled model manifest '{path}' is unreadable ({err}); "
                               "reinstall atelier.") from err
        entries += [{**e, "_dir": folder} for e in data.get("models", [])]
    return entries


def bundled_entry(name: str) -> dict | None:
    """The manifest entry of a bundled model (its file not yet verified), or None."""
    return next((e for e in _manifest() if e["name"] == name), None)


def has_model(name: str) -> bool:
    """Whether ``name`` is a bundled or user model's name (torch-free, no file is hashed)."""
    return bundled_entry(name) is not None or name in _user_files()


def check_model_file(path) -> None:
    """One sentence (WeightsError) for a .safetensors file whose tensors do not match its header (cut short,
    damaged): checked when a run is prepared, before any work, without loading a tensor (torch-free)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        return
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy"):
            pass
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types and OSError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"The model file '{path}' is damaged or incomplete ({reason}).") from None


def read_header(path) -> dict:
    """The atelier JSON header of a ``.safetensors`` or ``.onnx`` model file (no tensors are read)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return _onnx_header(path)
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100 << 20:  # a safetensors header is small; this is not one
                raise ValueError("implausible header length")
            meta = json.loads(f.read(n)).get("__metadata__") or {}
        return json.loads(meta[_META_KEY])
    except (OSError, struct.error, ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"'{path}' is not an atelier model file ({err}).") from err


def _onnx_header(path: Path) -> dict:
    try:
        import onnx
    except ImportError as err:
        raise WeightsError("Reading .onnx models needs the 'onnx' package: "
                           "pip install 'atelier[export]'.") from err
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, OSError, ... for a damaged file
        raise WeightsError(f"'{path}' is not a readable ONNX file ({type(err).__name__}).") from err
    meta = {p.key: p.value for p in model.metadata_props}
    if _META_KEY not in meta:
        raise WeightsError(f"'{path}' is an ONNX file but not one exported by atelier (no atelier metadata).")
    return json.loads(meta[_META_KEY])



def _verify(path: Path, expected: str, name: str) -> None:
    """Check a bundled file's SHA-256 on every lookup: bundled models are a few MB (milliseconds to hash),
    and a cache keyed on size and mtime would miss a same-size rewrite within one timestamp tick."""
    if not path.is_file():
        raise WeightsError(f"The bundled model {name!r} is missing its file '{path}'; reinstall atelier.")
    got = file_sha256(path)
    if got != expected:
        raise WeightsError(f"The bundled model {name!r} is corrupt (SHA-256 {got[:12]}... instead of "
                           f"{expected[:12]}...); reinstall atelier.")


def _user_files() -> dict[str, Path]:
    """name -> file of the user's models (a .safetensors wins over an .onnx of the same name)."""
    root = user_models_dir()
    found: dict[str, Path] = {}
    if root.is_dir():
        for suffix in reversed(MODEL_SUFFIXES):
            for p in sorted(root.glob(f"*{suffix}")):
                found[p.stem] = p
    return found


def available_names() -> list[str]:
    return sorted({e["name"] for e in _manifest()} | set(_user_files()))


def find_model(name_or_path) -> Path:
    """The file of a model given as a path, a bundled name or a user model's name (see module doc)."""
    text = str(name_or_path).strip()
    if not text:
        raise OptionError("No model given: pass --model NAME or a .safetensors/.onnx file "
                          "(run 'atelier models' to list them).")
    path = Path(text).expanduser()
    if path.is_file():
        return path
    looks_like_path = path.suffix.lower() in MODEL_SUFFIXES or "/" in text or "\\" in text
    if not looks_like_path:
        for entry in _manifest():
            if entry["name"] == text:
                file = entry["_dir"] / entry["file"]
                _verify(file, entry["sha256"], text)
                return file
        user = _user_files().get(text)
        if user is not None:
            return user
    if looks_like_path or path.exists():  # a directory or a FIFO is said to be one
        try:
            check_input_file(path, "model file")
        except AtelierError as err:
            raise OptionError(str(err)) from None
    names = available_names()
    if not names:
        raise OptionError(f"Unknown model {text!r}: no models are installed yet (train one with "
                          f"'atelier train johnson' (or adain, sanet), or put .safetensors/.onnx files in "
                          f"'{user_models_dir()}').")
    raise OptionError(f"Unknown model {text!r}; available: {', '.join(names)} "
                      "(run 'atelier models' for details).")


def list_models() -> list[ModelInfo]:
    """The bundled models (manifest order), then the user's (by name), each with its card."""
    out = []
    for entry in _manifest():
        path = entry["_dir"] / entry["file"]
        card = {**entry.get("card", {}), **{k: entry[k] for k in ("style", "licence") if k in entry}}
        error = None
        try:
            card = {**dict(read_header(path).get("card") or {}), **card}  # the manifest has the last word
        except WeightsError as err:
            error = str(err)
        out.append(ModelInfo(entry["name"], path, entry.get("method", "johnson"), True, card, error))
    for name, path in sorted(_user_files().items()):
        try:
            header = read_header(path)
        except WeightsError as err:
            out.append(ModelInfo(name, path, "?", False, {}, error=str(err)))
            continue
        out.append(ModelInfo(name, path, header.get("method", "?"), False, dict(header.get("card") or {})))
    return out
