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

# Built-in methods: name -> package. Each package's ``config`` module (no torch import) defines CONFIG (the
# dataclass), CAPABILITIES and SUMMARY, which is all that option parsing, help and listings need; its
# ``method`` module (torch, networks) is imported on first use and registers the class. Measured: the CLI's
# `atelier stylize --help` took 2.1 s when building the parser imported the method modules (torch: 1.1 s).
_BUILTIN = {"gatys": "atelier.methods.gatys", "johnson": "atelier.methods.johnson",
            "adain": "atelier.methods.adain", "sanet": "atelier.methods.sanet"}
_REGISTRY: dict[str, type] = {}


def option(default, help: str, paper: str = "", **extra):
    """A config field with its CLI/web metadata: help text, paper section, and extras (choices, metavar,
    ``cli=False`` for fields the command line does not offer). Lists get a default_factory copy."""
    meta = {"help": help, "paper": paper, **extra}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Capabilities:
    needs_style: bool = True
    multiple_styles: bool = False
    masks: bool = False
    trainable: bool = False
    video: bool = False  # `atelier video` may run it frame by frame
    # stylize() takes ``temporal=TemporalGuide`` (optimisation methods: warped initialisation and Ruder et
    # al.'s temporal loss); without it the video pipeline blends the warped previous output instead.
    temporal_loss: bool = False


@dataclass(frozen=True)
class TemporalGuide:
    """What a method with ``capabilities.temporal_loss`` gets for a video frame after the first (Ruder,
    Dosovitskiy & Brox 2016): the previous result warped to this frame, where that warp can be trusted,
    and the weight of the temporal term."""

    previous: Any  # (1,3,H,W) tensor in [0,1], the previous output warped to this frame (output size)
    reliability: Any  # (1,1,H,W) tensor in [0,1]: 0 at disocclusions and motion boundaries
    weight: float  # the user's --temporal-weight (> 0)


def register_method(name: str):
    """Class decorator: ``@register_method("gatys")``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


@dataclass(frozen=True)
class MethodSpec:
    """What can be known of a method without importing torch: its config dataclass and capabilities."""

    name: str
    config_class: type
    capabilities: Capabilities
    summary: str


def list_methods() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def _unknown(name: str) -> OptionError:
    return OptionError(f"Unknown method {name!r}; choose one of: {', '.join(list_methods())}.")


def get_method(name: str) -> type:
    """The registered method class (imports its module, and torch, on first use)."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name] + ".method")
    if name not in _REGISTRY:
        raise _unknown(name)
    return _REGISTRY[name]


def method_spec(name: str) -> MethodSpec:
    """Config class, capabilities and one-line summary of a method, without loading its networks."""
    if name in _BUILTIN:
        mod = importlib.import_module(_BUILTIN[name] + ".config")
        return MethodSpec(name, mod.CONFIG, mod.CAPABILITIES, mod.SUMMARY)
    if name not in _REGISTRY:
        raise _unknown(name)
    cls = _REGISTRY[name]
    return MethodSpec(name, cls.config_class, cls.capabilities, (cls.__doc__ or "").strip().split("\n")[0])


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


# --------------------------------------------------------------------------------------------- trainers

# Trainable methods: name -> package. The package's ``train_config`` module (no torch import) defines CONFIG
# (the training config dataclass) and SUMMARY, enough for `atelier train NAME --help`; its ``train`` module
# (torch) defines ``train(style, data, output, *, config, resume, callback, device, overwrite)``. The
# ``train_config`` module may declare INPUTS: what ``style`` and ``data`` are on the command line (flag, dest,
# metavar, help, folders); without it they are johnson's one style image and photo folders (DEFAULT_INPUTS).
_TRAINERS = {"johnson": "atelier.methods.johnson", "adain": "atelier.methods.adain",
             "sanet": "atelier.methods.sanet"}
DEFAULT_INPUTS = (
    {"flag": "--style", "dest": "style", "metavar": "IMAGE", "folders": False, "nargs": None,
     "help": "The style image (painting)."},
    {"flag": "--data", "dest": "data", "metavar": "DIR", "folders": True,
     "help": "Folder(s) of training photos, searched recursively (JPEG, PNG, WebP, TIFF, BMP)."},
)


@dataclass(frozen=True)
class TrainerSpec:
    """What can be known of a trainer without importing torch: its config dataclass and a summary."""

    name: str
    config_class: type
    summary: str
    inputs: tuple = DEFAULT_INPUTS  # the CLI's required inputs (see _TRAINERS)


def list_trainers() -> list[str]:
    return sorted(_TRAINERS)


def _unknown_trainer(name: str) -> OptionError:
    return OptionError(f"No trainer for method {name!r}; trainable methods: {', '.join(list_trainers())}.")


def trainer_spec(name: str) -> TrainerSpec:
    """The training config class and summary of a trainable method, without importing torch."""
    if name not in _TRAINERS:
        raise _unknown_trainer(name)
    mod = importlib.import_module(_TRAINERS[name] + ".train_config")
    return TrainerSpec(name, mod.CONFIG, mod.SUMMARY, getattr(mod, "INPUTS", DEFAULT_INPUTS))


def get_trainer(name: str):
    """The ``train`` function of a trainable method (imports torch and the method's networks)."""
    if name not in _TRAINERS:
        raise _unknown_trainer(name)
    return importlib.import_module(_TRAINERS[name] + ".train").train
