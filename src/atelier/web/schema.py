"""Method and video options for the web form and the API, generated from the config dataclasses' field
metadata (:mod:`atelier.options`, the same source as the CLI's options): type, default, help, paper,
choices, range, ``basic`` (shown first) and ``cli=False`` (not offered).

What a web form must not do is narrowed here, from the metadata and the method's spec: a field whose value
may be a file (``or_file``) offers only its words, since a path typed into a form would read files of the
server's machine; and a method's ``model`` (a name or a path on the command line) offers only the installed
models that method runs (its spec's ``model_kinds``). The checks are the library's: :func:`prepare_options` builds the run with
``atelier.prepare`` and adds only this server's limits.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

import atelier
from atelier.options import Config, default_of, describe_range, field_type, make_config, option

RANGE_KEYS = ("minimum", "maximum", "above", "multiple_of", "zero")
_TYPE_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean"}
_KINDS = {"integer": "a whole number", "number": "a number", "boolean": "true or false"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
MODEL_HELP = "Trained network: one of the installed models (see 'atelier models')."


class OptionsError(ValueError):
    """Options that do not fit the method (one sentence; the API answers 422)."""


# ------------------------------------------------------------------------------------------- schemas


def field_schema(f: dataclasses.Field, hint) -> dict[str, Any]:
    """One option of a form: its type, default, texts, choices and range, from the field's metadata."""
    typ, is_list, nullable = field_type(hint)
    meta = f.metadata
    opt: dict[str, Any] = {
        "name": f.name, "type": _TYPE_NAMES.get(typ, "string"), "list": is_list, "nullable": nullable,
        "default": default_of(f), "help": meta.get("help", ""), "paper": meta.get("paper", ""),
        "basic": bool(meta.get("basic")), "form": bool(meta.get("cli", True)),
        "texture": meta.get("texture", True) is not False,  # offered in texture jobs
    }
    opt.update({k: meta[k] for k in RANGE_KEYS if meta.get(k) is not None})
    if text := describe_range(meta):
        opt["range"] = text
    if meta.get("choices") is not None:
        opt["choices"] = list(meta["choices"])
    if meta.get("or_file") is not None:  # its words only: no server paths from a web form
        opt["choices"] = list(meta["or_file"])
    return opt


def config_schema(config_class: type, keep=lambda f: True) -> list[dict[str, Any]]:
    hints = typing.get_type_hints(config_class)
    return [field_schema(f, hints[f.name]) for f in dataclasses.fields(config_class) if keep(f)]


def model_names(method: str) -> list[str]:
    """Installed models (readable files) that ``method`` runs."""
    kinds = atelier.method_spec(method).model_kinds
    return [m.name for m in atelier.list_models() if m.method in kinds and not m.error]


def method_schema(name: str) -> dict[str, Any]:
    """The method's summary, capabilities and options."""
    try:
        spec = atelier.method_spec(name)
    except atelier.errors.AtelierError as err:
        raise OptionsError(str(err)) from None
    options = config_schema(spec.config_class)
    if atelier.refinable(spec.capabilities):  # a run option, not the method's: atelier.prepare(refine=N)
        options += config_schema(atelier.RefineOptions)
    if any(f.name == "size" for f in dataclasses.fields(spec.config_class)):  # atelier.prepare(work_size=N)
        options += config_schema(atelier.WorkSizeOptions)
    if spec.capabilities.protect:  # atelier.prepare(protect="faces", protect_strength=S)
        options += config_schema(atelier.ProtectOptions)
    if spec.capabilities.style_masks and spec.capabilities.masks:  # atelier.prepare(semantic="auto")
        options += config_schema(atelier.SemanticOptions)
    for opt in options:
        if opt["name"] == "model":
            opt.update(choices=model_names(name), help=MODEL_HELP)
    return {"name": name, "summary": spec.describe(), "capabilities": dataclasses.asdict(spec.capabilities),
            "options": options}


@dataclasses.dataclass
class WebKeyframes(Config):
    """The web form's entry for keyframed styles (the CLI repeats --style-at instead)."""

    style_at: str | None = option(
        None, "Styles over time: TIME=STYLE pairs separated by commas, STYLE the number of an uploaded painting "
        "(1, 2, ...) or, for johnson, a model's name (e.g. '0=1, 4=2'); between keyframes the style changes "
        "smoothly. Empty: one style for the whole video.", metavar="TIME=STYLE,...", web=True)


def split_web_style_at(text: str, n_paintings: int, paintings: bool | None = None) -> list[tuple[str, int | str]]:
    """'0=1, 4=2' -> [(time text, painting index 0-based or model name)], checked against the uploads and,
    if ``paintings`` is given, against what the method takes (paintings, or models)."""
    out = []
    for item in (p.strip() for p in text.split(",") if p.strip()):
        if "=" not in item:
            raise atelier.errors.OptionError(f"style_at takes TIME=STYLE pairs separated by commas, not {item!r}.")
        time, ref = (x.strip() for x in item.split("=", 1))
        atelier.parse_style_at([f"{time}=x"])  # the time checked as --style-at checks it
        if ref.isdigit():
            if not 1 <= int(ref) <= n_paintings:
                raise atelier.errors.OptionError(f"style_at names painting {ref}, but {n_paintings} painting(s) were uploaded.")
            out.append((time, int(ref) - 1))
        else:
            out.append((time, ref))
    if not out:
        raise atelier.errors.OptionError("style_at needs at least one TIME=STYLE pair.")
    if paintings is not None and any(isinstance(r, int) != paintings for _, r in out):
        raise atelier.errors.OptionError("style_at: this method takes " + ("the numbers of uploaded paintings (1, 2, ...)." if
                                                            paintings else "models' names, not paintings."))
    return out


def video_schema(max_frames: int) -> list[dict[str, Any]]:
    """The options of a video job beyond the method's: the ``web`` fields of the video config and the
    keyframed styles, with ``max_frames`` capped by this server."""
    options = config_schema(atelier.VideoConfig, lambda f: bool(f.metadata.get("web"))) + config_schema(WebKeyframes)
    for opt in options:
        if opt["name"] == "max_frames":
            opt.update(default=max_frames, nullable=False, maximum=max_frames,
                       help=f"{opt['help']} This server's limit: {max_frames}.")
            opt["range"] = describe_range(opt)
    return options


# ------------------------------------------------------------------------------------ form values


def _blank(opt: dict, value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip() and (opt["nullable"] or opt["type"] != "string"))


def _convert(typ: str, value):
    """A JSON or form value as the option's type; TypeError or ValueError when it is not one."""
    if typ == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ValueError
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError
    if typ == "integer":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    if typ == "number":
        out = float(value)
        if not math.isfinite(out):
            raise ValueError
        return out
    return str(value)


def _coerce(opt: dict, value: Any) -> Any:
    name = opt["name"]
    if _blank(opt, value):
        if opt["nullable"]:
            return None
        raise OptionsError(f"Option {name} needs a value.")
    if opt["list"]:
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise OptionsError(f"Option {name} needs a list of values.")
        return [_coerce({**opt, "list": False, "nullable": False}, v) for v in items]  # choices: each item's
    try:
        out = _convert(opt["type"], value)
    except (TypeError, ValueError, OverflowError):
        raise OptionsError(f"Option {name} must be {_KINDS.get(opt['type'], 'text')}, not {value!r}.") from None
    choices = opt.get("choices")
    if choices is not None and out not in choices:
        if name == "model":
            have = ", ".join(choices) if choices else "none are installed yet (see 'atelier models')"
            raise OptionsError(f"Unknown model {out!r}; installed models: {have}.")
        raise OptionsError(f"Option {name} must be one of {', '.join(map(str, choices))}, not {out!r}.")
    return out


def coerce_options(schema: dict[str, dict], raw: Any, where: str) -> dict[str, Any]:
    """Typed values of the options given (None dropped: the library's default applies)."""
    if not isinstance(raw, dict):
        raise OptionsError("Options must be a JSON object of option names and values.")
    unknown = sorted(set(raw) - set(schema))
    if unknown:
        raise OptionsError(f"Unknown option(s) {', '.join(unknown)} for {where}; valid: {', '.join(schema)}.")
    options = {k: _coerce(schema[k], v) for k, v in raw.items()}
    return {k: v for k, v in options.items() if v is not None}


# -------------------------------------------------------------------------------------- the checks


def _check_model(method: str, schema: dict[str, dict], options: dict) -> None:
    """A method whose default model is not installed needs one picked (AdaIN/SANet run without one once
    their default decoder is installed)."""
    opt = schema.get("model")
    if opt is None or "model" in options or opt["default"] in opt["choices"]:
        return
    have = ", ".join(opt["choices"]) or f"none yet (see atelier train {method})"
    raise OptionsError(f"The {method} method needs a model; installed models: {have}.")


def prepare_run(method: str, options: dict, *, n_styles: int, video: bool = False, texture: bool = False,
                tileable: bool = False, n_masks: int | None = None, seed: int = 0, scale_mix: bool = False,
                color_from: bool = False, n_style_masks: int | None = None) -> atelier.Prepared:
    """``atelier.prepare`` of a job's typed options: the method's, and the run options ``refine``,
    ``work_size`` (a video's default work size when not given), ``protect`` and ``protect_strength``;
    ``scale_mix``/``color_from``: the job mixes a coarse and a fine painting / takes another image's colours."""
    run_keys = ("refine", "work_size", "protect", "protect_strength", "semantic")
    method_options = {k: v for k, v in options.items() if k not in run_keys}
    shield = {k: options[k] for k in run_keys[2:] if k in options}  # and semantic
    work_size = options.get("work_size", None if video else 0)  # None: the video default where it applies
    return atelier.prepare(method, method_options, n_styles=n_styles, video=video, refine=options.get("refine", 0),
                           texture=texture, tileable=tileable, n_masks=n_masks, work_size=work_size, seed=seed,
                           scale_mix=scale_mix, color_from=color_from, n_style_masks=n_style_masks, **shield)


def prepare_options(method: str, raw: Any, *, n_styles: int, max_size: int, video: bool = False,
                    texture: dict | None = None, n_masks: int | None = None, seed: int = 0, scale_mix: bool = False,
                    color_from: bool = False, n_style_masks: int | None = None) -> tuple[dict[str, Any], atelier.Prepared]:
    """The options given (typed, for the job's record) and the run checked by ``atelier.prepare``, within
    this server's ``max_size``; ``texture`` (the checked :func:`resolve_texture_options`) for a texture job,
    whose options may not include those marked ``texture=False``. Raises :class:`OptionsError`."""
    schema = {o["name"]: o for o in method_schema(method)["options"]}
    options = coerce_options(schema, raw, f"the {method} method")
    _check_model(method, schema, options)
    if texture is not None:
        unused = sorted(k for k in options if not schema[k]["texture"])
        if unused:
            raise OptionsError(f"{', '.join(unused)}: not used when the {method} method synthesises a texture.")
    try:
        prepared = prepare_run(method, options, n_styles=n_styles, video=video, texture=texture is not None,
                               tileable=bool(texture and texture["tileable"]), n_masks=n_masks, seed=seed,
                               scale_mix=scale_mix, color_from=color_from, n_style_masks=n_style_masks)
    except atelier.errors.AtelierError as err:
        raise OptionsError(str(err)) from None
    size = getattr(prepared.config, "size", None)
    if texture is None and isinstance(size, int) and size > max_size:
        raise OptionsError(f"The size must be at most {max_size} pixels on this server, not {size}.")
    return options, prepared


def resolve_texture_options(raw: Any, max_size: int) -> dict[str, Any]:
    """A texture job's ``width`` and ``height`` (8 to this server's ``max_size``; default 512 or the limit)
    and ``tileable``. Raises :class:`OptionsError`."""
    if not isinstance(raw, dict):
        raise OptionsError("The texture options must be a JSON object, e.g. {\"width\": 512, \"height\": 512}.")
    unknown = sorted(set(raw) - {"width", "height", "tileable"})
    if unknown:
        raise OptionsError(f"Unknown texture option(s) {', '.join(unknown)}; valid: width, height, tileable.")
    out = {"width": raw.get("width", min(512, max_size)), "height": raw.get("height", min(512, max_size)),
           "tileable": raw.get("tileable", False)}
    for k in ("width", "height"):
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, int) or not 8 <= v <= max_size:
            raise OptionsError(f"The texture's {k} must be a whole number from 8 to {max_size} pixels on this "
                               f"server, not {v!r}.")
    if not isinstance(out["tileable"], bool):
        raise OptionsError(f"tileable must be true or false, not {out['tileable']!r}.")
    return out


def resolve_options(method: str, raw: Any, *, n_styles: int, max_size: int, video: bool = False) -> dict[str, Any]:
    """The options given, checked (see :func:`prepare_options`); the library fills in the defaults."""
    return prepare_options(method, raw, n_styles=n_styles, max_size=max_size, video=video)[0]


def resolve_video_options(raw: Any, max_frames: int, n_styles: int = 0, method: str | None = None) -> dict[str, Any]:
    """The video options given, with ``max_frames`` (at most this server's limit) always set; ``style_at``
    checked against the ``n_styles`` uploaded paintings and what ``method`` takes."""
    schema = {o["name"]: o for o in video_schema(max_frames)}
    out = {"max_frames": max_frames, **coerce_options(schema, raw, "a video job")}
    if out["max_frames"] > max_frames:
        raise OptionsError(f"max_frames must be between 1 and {max_frames} on this server, not {out['max_frames']}.")
    try:
        make_config(atelier.VideoConfig, {k: v for k, v in out.items() if k != "style_at"})  # fields, start/end
        if out.get("style_at"):
            paintings = None if method is None else atelier.method_spec(method).capabilities.needs_style
            split_web_style_at(out["style_at"], n_styles, paintings)
    except atelier.errors.AtelierError as err:
        raise OptionsError(str(err)) from None
    return out
