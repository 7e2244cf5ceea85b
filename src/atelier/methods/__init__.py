"""The method registry: every style transfer method registers itself under a short name.

A method is a class with a ``name``, a ``config_class`` (a dataclass: every field typed, defaulted and
documented in ``field(metadata={"help": ...})``), a :class:`Capabilities` record, and

    stylize(content, style=None, *, config=None, generator=None, callback=None, masks=None) -> Tensor

with content/style as (1,3,H,W) float tensors in [0,1] (``style`` a list for several styles). After a run,
``method.info`` holds what the run measured (stages, iterations, timings, final loss terms) for sidecars.
The CLI options, the web form and the contract tests are generated from this registry.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import OptionError

# Built-in methods, imported on first use so that `atelier --help` stays fast.
_BUILTIN = {"gatys": "atelier.methods.gatys.method"}
_REGISTRY: dict[str, type] = {}


@dataclass(frozen=True)
class Capabilities:
    needs_style: bool = True
    multiple_styles: bool = False
    masks: bool = False
    trainable: bool = False
    video: bool = False  # True once the video pipeline (issue 7) wraps the method


def register_method(name: str):
    """Class decorator: ``@register_method("gatys")``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_all() -> None:
    for name, module in _BUILTIN.items():
        if name not in _REGISTRY:
            importlib.import_module(module)


def list_methods() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get_method(name: str) -> type:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise OptionError(f"Unknown method {name!r}; choose one of: {', '.join(list_methods())}.")
    return _REGISTRY[name]


def make_config(config_class: type, overrides: dict[str, Any] | None = None):
    """A config dataclass from keyword overrides; unknown keys raise one clear sentence."""
    names = {f.name for f in dataclasses.fields(config_class)}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise OptionError(
            f"Unknown option(s) {', '.join(unknown)} for {config_class.__name__}; valid: {', '.join(sorted(names))}."
        )
    return config_class(**overrides)


def create_method(name: str, **overrides):
    """An instance of a registered method with its config built from ``overrides``."""
    cls = get_method(name)
    return cls(make_config(cls.config_class, overrides))
