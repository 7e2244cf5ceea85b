"""Errors that users cause. Each carries one sentence that the CLI prints without a traceback (exit 2)."""

from __future__ import annotations


class AtelierError(Exception):
    """Base class of every error a user can cause; ``str(err)`` is one clear sentence."""

    exit_code = 2


class InputError(AtelierError):
    """A missing, unreadable, empty or unsupported input file."""


class ImageTooLargeError(InputError):
    """An image over the pixel-count limit (protection against decompression bombs)."""


class OptionError(AtelierError):
    """An option value that cannot work (negative size, weights that do not match the styles, ...)."""


class OutputError(AtelierError):
    """An output that may not be written (it exists, it is an input, its format is unknown)."""


class WeightsError(AtelierError):
    """Model weights that are missing or corrupt."""


class Interrupted(AtelierError):
    """The user interrupted a run (Ctrl-C); ``partial`` holds the image reached so far, if any."""

    exit_code = 130

    def __init__(self, message: str, *, partial=None):
        super().__init__(message)
        self.partial = partial
