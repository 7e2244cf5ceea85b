"""Where atelier keeps its files, and what identifies one (torch-free, so command-line start-up can ask
without importing torch)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def atelier_home() -> Path:
    """The directory for caches and user models: ``$ATELIER_HOME`` or the platform's user cache dir."""
    env = os.environ.get("ATELIER_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("atelier"))


def checkpoint_path(output) -> Path:
    """'starry.safetensors' -> 'starry.ckpt.safetensors': the resumable checkpoint every trainer keeps
    beside the model it writes."""
    output = Path(output)
    return output.with_name(output.name.removesuffix(".safetensors") + ".ckpt.safetensors")


def preview_path(output) -> Path:
    """'starry.safetensors' -> 'starry.preview.png': the preview image ``atelier train`` keeps beside the model."""
    output = Path(output)
    return output.with_name(output.name.removesuffix(".safetensors") + ".preview.png")


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_input_file(path, what: str = "image file") -> Path:
    """``path`` as a Path if it is a regular file, else one sentence (InputError) saying what it is: missing,
    a directory, or a pipe/device/socket (refused before opening: reading a FIFO would block forever)."""
    from .errors import InputError

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"The {what} '{path}' does not exist.")
    if path.is_dir():
        raise InputError(f"'{path}' is a directory, not an {what}." if what[0] in "aeiou"
                         else f"'{path}' is a directory, not a {what}.")
    if not path.is_file():
        raise InputError(f"'{path}' is a pipe, device or socket, not a regular file: give the {what} itself.")
    return path
