"""What the subcommands share: the parser that fails in one sentence, options generated from config
dataclasses, the method/model selection, and a progress bar that appears with the first event."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import typing

import atelier
from atelier.options import default_of, describe_range, field_type, flag

from .progress import ProgressPrinter


class Parser(argparse.ArgumentParser):
    """argparse with one sentence and exit 2 on bad usage (no usage wall, no traceback)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}.\n")


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def parse_float(text: str) -> float:
    """A finite number: 'nan' and 'inf' are refused while parsing (the configs refuse them too, for callers
    of the library and the web API)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_config_options(p: argparse.ArgumentParser, config_class, title: str, *, texture: bool = False) -> None:
    """One option per field of a method's (or trainer's) config dataclass, in a group ``title``: shared by
    ``atelier stylize``, ``atelier video``, ``atelier texture`` (``texture=True``: without the fields that
    texture synthesis does not use) and ``atelier train``."""
    hints = typing.get_type_hints(config_class)
    group = p.add_argument_group(title)
    for f in dataclasses.fields(config_class):
        meta = f.metadata
        if not meta.get("cli", True) or (texture and meta.get("texture", True) is False):
            continue
        typ, is_list, _ = field_type(hints[f.name])
        text = meta.get("help", "") + (f" [{meta['paper']}]" if meta.get("paper") else "")
        kwargs = {"help": text.replace("%", "%%"),  # argparse formats help with %
                  "dest": f.name, "default": None}
        if typ is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {int: parse_int, float: parse_float}.get(typ, typ)
            if is_list:
                kwargs["nargs"] = "+"
            if "choices" in meta:
                kwargs["choices"] = meta["choices"]
            else:
                kwargs["metavar"] = meta.get("metavar") or {int: "N", float: "X"}.get(typ, "VALUE")
        allowed = describe_range(meta)
        default = default_of(f)
        notes = ([f"{allowed}"] if allowed else []) + ([] if default in (None, "") else [f"default: {_fmt(default)}"])
        kwargs["help"] += f" ({'; '.join(notes)})" if notes else ""
        group.add_argument(flag(f.name), **kwargs)


def add_metadata_option(p: argparse.ArgumentParser) -> None:
    """``--no-metadata``, shared by every command that writes images (stylize, texture, video, train's
    previews, compare, batch): the provenance record is then not embedded in the outputs (the JSON
    sidecar is still written)."""
    p.add_argument("--no-metadata", dest="metadata", action="store_false",
                   help="Do not embed the provenance record (IPTC digital source type, method, style names, "
                   "options, seed) in the output files; the JSON sidecar is still written. "
                   "See 'atelier provenance FILE'.")


def add_watermark_option(p: argparse.ArgumentParser) -> None:
    """``--watermark``: the invisible watermark in the pixels, which survives re-encoding, resizing and
    cropping where metadata does not ('atelier provenance --watermark FILE' finds it)."""
    p.add_argument("--watermark", action="store_true",
                   help="Also hide a faint watermark ('made by atelier', PSNR ~40 dB) in the pixels; it survives JPEG "
                   "re-encoding, a 0.5x resize and cropping. Find it with 'atelier provenance --watermark FILE'.")


def _fmt(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def parse_method_args(build, argv: list[str]) -> tuple[argparse.Namespace, dict]:
    """Two passes, shared by ``atelier stylize`` and ``atelier video``: find the method first (``--method``,
    or the one that runs ``--model``'s file, else gatys), then parse with ``build(method)``'s parser.
    Returns the arguments and the method's options that were given."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method")
    pre.add_argument("--model")
    known, _ = pre.parse_known_args(argv)
    method = known.method
    if method is None and known.model is not None:
        try:
            method = atelier.method_for_model(known.model)
        except atelier.errors.AtelierError:
            method = "johnson"  # its path reports an unknown or unreadable model in one sentence
    args = build(method or "gatys").parse_args(argv)
    names = [f.name for f in dataclasses.fields(atelier.method_spec(args.method).config_class)]
    if "model" not in names and getattr(args, "model", None) is not None:
        raise atelier.errors.OptionError(f"--model selects a trained network; the {args.method} method takes "
                                         "none.")
    return args, {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


class LazyPrinter:
    """A progress bar that appears with the first event, so a model that fails to load leaves none."""

    def __init__(self):
        self.printer = None

    def __call__(self, event) -> None:
        if self.printer is None:
            self.printer = ProgressPrinter(show=True)
        self.printer(event)

    def close(self) -> None:
        if self.printer is not None:
            self.printer.close()


