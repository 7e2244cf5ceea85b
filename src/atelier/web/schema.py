"""Method options for the web form and the API, generated from each method's config dataclass.

The same source as the CLI's options (``atelier/cli/stylize.py``): field types, defaults, help texts, paper
references and choices. Two fields take file paths on the command line and are narrowed here, because
a path typed into a web form would read files of the server's machine: ``init`` offers only ``content``
and ``random``, and ``model`` only the names of installed models (``atelier.list_models()``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import atelier

# Options shown first in the form; the others go under "More options" (the order is the config's).
BASIC = {"size", "iterations", "style_strength", "preserve_color", "model"}
INIT_CHOICES = ("content", "random")


class OptionsError(ValueError):
    """Options that do not fit the method (one sentence; the API answers 422)."""


def _field_type(hint) -> tuple[type, bool, bool]:
    """(element type, is_list, nullable) of an annotation such as ``list[float] | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    nullable = type(None) in typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True, nullable
    return hint, False, nullable


_TYPE_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean"}


def model_names(method: str) -> list[str]:
    """Installed models usable by ``method`` (readable files only)."""
    return [m.name for m in atelier.list_models() if m.method == method and not m.error]


def method_schema(name: str) -> dict[str, Any]:
    """The method's summary, capabilities and options (type, default, help, paper, choices)."""
    spec = atelier.method_spec(name)
    hints = typing.get_type_hints(spec.config_class)
    options = []
    for f in dataclasses.fields(spec.config_class):
        typ, is_list, nullable = _field_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        meta = f.metadata
        opt: dict[str, Any] = {
            "name": f.name, "type": _TYPE_NAMES.get(typ, "string"), "list": is_list, "nullable": nullable,
            "default": default, "help": meta.get("help", ""), "paper": meta.get("paper", ""),
            "basic": f.name in BASIC, "form": bool(meta.get("cli", True)),
        }
        if "choices" in meta:
            opt["choices"] = list(meta["choices"])
        if f.name == "init":
            opt["choices"] = list(INIT_CHOICES)
        if f.name == "model":
            opt["choices"] = model_names(name)
            opt["help"] = "Trained network: one of the installed models (see 'atelier models')."
        options.append(opt)
    return {
        "name": name, "summary": spec.describe(), "capabilities": dataclasses.asdict(spec.capabilities),
        "options": options,
    }


def _coerce(opt: dict, value: Any) -> Any:
    name, typ = opt["name"], opt["type"]
    if value is None or (isinstance(value, str) and not value.strip() and (opt["nullable"] or typ != "string")):
        if opt["nullable"]:
            return None
        raise OptionsError(f"Option {name} needs a value.")
    if opt["list"]:
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise OptionsError(f"Option {name} needs a list of values.")
        return [_coerce({**opt, "list": False, "nullable": False, "choices": None}, v) for v in items]
    try:
        if typ == "boolean":
            if isinstance(value, bool):
                out = value
            elif str(value).lower() in ("true", "1", "yes", "on"):
                out = True
            elif str(value).lower() in ("false", "0", "no", "off"):
                out = False
            else:
                raise ValueError
        elif typ == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)
        elif typ == "number":
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ValueError
        else:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            out = str(value)
    except (TypeError, ValueError):
        kind = {"integer": "a whole number", "number": "a number", "boolean": "true or false"}.get(typ, "text")
        raise OptionsError(f"Option {name} must be {kind}, not {value!r}.") from None
    choices = opt.get("choices")
    if choices is not None and out not in choices:
        if name == "model":
            have = ", ".join(choices) if choices else "none are installed yet (see 'atelier train johnson')"
            raise OptionsError(f"Unknown model {out!r}; installed models: {have}.")
        raise OptionsError(f"Option {name} must be one of {', '.join(map(str, choices))}, not {out!r}.")
    return out


def resolve_options(method: str, raw: dict[str, Any], *, n_styles: int, max_size: int) -> dict[str, Any]:
    """Typed options of ``method`` from JSON/form values, checked by the config's own ``validate``.

    Returns only the options given (the library fills in the defaults). Raises :class:`OptionsError`.
    """
    if method not in atelier.list_methods():
        raise OptionsError(f"Unknown method {method!r}; choose one of: {', '.join(atelier.list_methods())}.")
    if not isinstance(raw, dict):
        raise OptionsError("Options must be a JSON object of option names and values.")
    schema = {o["name"]: o for o in method_schema(method)["options"]}
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise OptionsError(f"Unknown option(s) {', '.join(unknown)} for the {method} method; valid: "
                           f"{', '.join(schema)}.")
    options = {k: _coerce(schema[k], v) for k, v in raw.items()}
    options = {k: v for k, v in options.items() if v is not None}
    # A method whose default model is installed (the bundled AdaIN/SANet decoders) runs without one.
    if "model" in schema and "model" not in options and schema["model"]["default"] not in schema["model"]["choices"]:
        have = schema["model"]["choices"]
        raise OptionsError(f"The {method} method needs a model; installed models: "
                           f"{', '.join(have) if have else f'none yet (see atelier train {method})'}.")
    size = options.get("size", schema["size"]["default"] if "size" in schema else 0)
    if isinstance(size, int) and size > max_size:
        raise OptionsError(f"The size must be at most {max_size} pixels on this server, not {size}.")
    spec = atelier.method_spec(method)
    try:
        config = spec.config_class(**options)
        if hasattr(config, "validate"):
            config.validate(n_styles)
    except atelier.errors.AtelierError as err:
        raise OptionsError(str(err)) from None
    except TypeError as err:
        raise OptionsError(f"Options do not fit the {method} method ({err}).") from None
    return options
