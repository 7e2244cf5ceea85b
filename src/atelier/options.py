"""Declarative options: config dataclass fields that carry their help, choices and ranges.

Every config of the library (a method's, a trainer's, the video pipeline's) is a dataclass whose fields are
made by :func:`option`. The metadata is the single source of the CLI options, the web form and the checks:

* ``help``, ``paper``: what ``--help`` and the form show;
* ``choices``: the allowed values;
* ``minimum`` / ``maximum`` (inclusive), ``above`` (exclusive lower bound), ``multiple_of``: numeric range,
  applied to each element of a list field;
* ``zero`` (a phrase such as "the content's size"): 0 is also accepted and means that;
* ``or_file`` (a tuple of words): the value is one of the words or the path of an existing file;
* ``names`` (a tuple): each value must be one of these names (e.g. :data:`VGG19_LAYERS`), without offering
  them as choices in the CLI or the form;
* ``cli=False``: not offered on the command line or the web form (e.g. test-only random weights);
* ``basic=True``: shown first in the web form; ``metavar``: the CLI's placeholder;
* ``texture=False``: not used when the method synthesises a texture from a sample (``atelier texture``):
  not offered there, and refused if given.

:func:`check_fields` checks these rules and the fields' types (a whole number where an ``int`` is declared,
finite numbers) with one sentence each; config classes derived from
:class:`Config` run it when they are made (``__post_init__``), so a config that exists is in range. What
depends on several fields or on the run's inputs (how many styles) stays in the class's ``validate``.
Torch-free: ``atelier --help`` imports this.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import types
import typing
from pathlib import Path
from typing import Any

from .errors import OptionError


def _vgg19_layers() -> tuple[str, ...]:
    """conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ... pool5: the names configs may give (torch-free;
    ``features.py`` builds the network under the same names)."""
    names = []
    for block, n_conv in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)):
        for i in range(1, n_conv + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


VGG19_LAYERS: tuple[str, ...] = _vgg19_layers()
SEED_LIMIT = 2**64  # torch.Generator.manual_seed takes 64 bits


def option(default, help: str, paper: str = "", **extra):
    """A config field with its metadata (see the module docstring). Lists get a default_factory copy."""
    meta = {"help": help, "paper": paper, **extra}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag(name: str) -> str:
    """The command-line spelling of a field: ``style_weights`` -> ``--style-weights``."""
    return "--" + name.replace("_", "-")


def field_type(hint) -> tuple[type, bool, bool]:
    """(element type, is_list, nullable) of an annotation such as ``list[float] | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    nullable = type(None) in typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True, nullable
    return hint, False, nullable


def default_of(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def describe_range(meta: dict) -> str | None:
    """'at least 16', 'between 0 and 1', 'positive', 'a multiple of 16 and 0 or more' ..., or None."""
    lo, hi, above, mult = (meta.get(k) for k in ("minimum", "maximum", "above", "multiple_of"))
    if lo is not None and hi is not None:
        text = f"between {_num(lo)} and {_num(hi)}"
    elif lo is not None:
        text = "0 or more" if lo == 0 else f"at least {_num(lo)}"
    elif above is not None:
        text = "positive" if above == 0 else f"more than {_num(above)}"
    elif hi is not None:
        text = f"at most {_num(hi)}"
    else:
        text = None
    if mult is not None:
        text = f"a multiple of {mult}" + (f" and {text}" if text else "")
    if text and meta.get("zero"):
        text = f"0 ({meta['zero']}) or {text}"
    return text


def _check_type(name: str, typ, value) -> None:
    """One sentence for a number of the wrong type (a config made from JSON, a compare spec, a plug-in's
    caller): a whole number where an int is declared, a number where a float is. (Text fields may take
    numbers: a video's --start is '1:30' or 90.)"""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy's scalars too
    if typ is int and not (number and float(value).is_integer()) or typ is float and not number:
        kind = "a whole number" if typ is int else "a number"
        raise OptionError(f"{flag(name)} must be {kind}, not {value!r}.")


def _check_value(name: str, meta: dict, value) -> None:
    if value is None:
        return
    choices, words, names = meta.get("choices"), meta.get("or_file"), meta.get("names")
    if names is not None and value not in names:
        raise OptionError(f"{flag(name)}: {value!r} is not one of the names it takes ({names[0]}, {names[1]}, "
                          f"... {names[-1]}).")
    if choices is not None and value not in choices:
        raise OptionError(f"{flag(name)} must be one of {', '.join(map(str, choices))}, not {value!r}.")
    if words is not None and value not in words and not Path(str(value)).expanduser().is_file():
        raise OptionError(f"{flag(name)} must be {', '.join(map(repr, words))} or an image file; "
                          f"'{value}' does not exist.")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if not math.isfinite(value):
        raise OptionError(f"{flag(name)} must be a finite number, not {value}.")
    if value == 0 and meta.get("zero"):
        return
    lo, hi, above, mult = (meta.get(k) for k in ("minimum", "maximum", "above", "multiple_of"))
    bad = ((lo is not None and value < lo) or (hi is not None and value > hi)
           or (above is not None and value <= above) or (mult is not None and value % mult))
    if bad:
        raise OptionError(f"{flag(name)} must be {describe_range(meta)}, not {_num(value)}.")


def check_fields(config) -> None:
    """Check every field of a config dataclass against its declared type, choices and ranges."""
    try:
        hints = typing.get_type_hints(type(config))
    except (NameError, TypeError, AttributeError):  # a plug-in's annotations that do not resolve: ranges still checked
        hints = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        typ, is_list, _ = field_type(hints[f.name]) if f.name in hints else (None, False, True)
        if is_list and value is not None and not isinstance(value, (list, tuple)):
            raise OptionError(f"{flag(f.name)} must be a list of values, not {value!r}.")
        if typ is not None and not is_list and isinstance(value, (list, tuple)):
            raise OptionError(f"{flag(f.name)} takes one value, not {len(value)}: {value!r}.")
        for item in (value if isinstance(value, (list, tuple)) else [value]):
            if item is not None and typ in (int, float):
                _check_type(f.name, typ, item)
            _check_value(f.name, f.metadata, item)
        if typ is int and value is not None and not is_list and not isinstance(value, int):
            object.__setattr__(config, f.name, int(value))  # 3.0 from JSON (or numpy's 3) is 3


def check_seed(seed) -> int:
    """The seed as an int, or one sentence: a whole number from 0 to 2**64 - 1 (torch's generator range)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise OptionError(f"--seed must be a whole number from 0 to {SEED_LIMIT - 1}, not {seed!r}.")
    return seed


class Config:
    """Base of the config dataclasses: fields are checked when the config is made. Subclasses may add
    ``validate(n_styles)`` for rules across fields; it does no I/O."""

    def __post_init__(self):
        check_fields(self)

    def validate(self, n_styles: int = 1) -> None:
        """Rules across fields or against the run's style count; none by default."""


def check_style_weights(weights: list[float] | None, n_styles: int) -> None:
    """One weight per style image, not all 0 (each one's range is on the field); for methods mixing styles."""
    if weights is None:
        return
    if len(weights) != n_styles:
        raise OptionError(f"--style-weights has {len(weights)} value(s) but there are {n_styles} style image(s).")
    if sum(weights) <= 0:
        raise OptionError("--style-weights must be 0 or more and not all 0.")


# Scale control (Gatys et al. 2017 §5): the style layers of VGG-19 blocks 3-5 (relu3_1, relu4_1, relu5_1 of
# the default five) see structures of 16-100+ pixels, "coarse"; those of blocks 1-2 (relu1_1, relu2_1) see
# strokes and texture grain of a few pixels, "fine". The paper splits the style layers the same way (lower
# layers: fine scale, higher: coarse); benchmarks/mix.py measures the split per layer.
COARSE_BLOCKS = (3, 4, 5)


def coarse_fine_weights() -> list[dict[str, float]]:
    """The per-layer style weights of ``--coarse-style A --fine-style B``: [A's, B's], each {layer: 0 or 1}
    over every VGG-19 layer name (a method picks its own layers from them)."""
    block = {k: int(re.search(r"\d", k).group()) for k in VGG19_LAYERS}  # "relu3_1" -> 3
    coarse = {k: float(block[k] in COARSE_BLOCKS) for k in VGG19_LAYERS}
    return [coarse, {k: 1.0 - v for k, v in coarse.items()}]


def make_config(config_class: type, overrides: dict[str, Any] | None = None):
    """A config dataclass from keyword overrides (None values dropped); unknown keys and values out of range
    raise one clear sentence."""
    names = [f.name for f in dataclasses.fields(config_class)]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise OptionError(f"Unknown option(s) {', '.join(unknown)} for {config_class.__name__}; "
                          f"valid: {', '.join(sorted(names))}.")
    config = config_class(**overrides)
    if not isinstance(config, Config):  # a third-party dataclass without our base class
        check_fields(config)
    return config
