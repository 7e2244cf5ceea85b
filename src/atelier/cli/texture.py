"""``atelier texture SAMPLE``: synthesise a texture from a sample image with any method that can.

The methods offered are those whose spec says ``texture``; the options come from the chosen method's config,
less the fields marked ``texture=False`` (a photo's size, the content weight, colour preservation ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import atelier

from .common import Parser, add_config_options, add_metadata_option, add_watermark_option, parse_int
from .progress import ProgressPrinter

DEFAULT_METHOD = "quilting"


def texture_methods() -> list[str]:
    return [m for m in atelier.list_methods() if atelier.method_spec(m).capabilities.texture]


def build_parser(method: str) -> argparse.ArgumentParser:
    spec = atelier.method_spec(method)  # config and capabilities only: --help must not import torch
    p = Parser(prog="atelier texture", description=(
        "Synthesise a texture that looks like SAMPLE (a photo of a texture, or a painting), of any size. "
        "Methods, in order of publication: efros_leung (1999, pixel by pixel), portilla_simoncelli (2000, "
        "wavelet statistics), quilting (2001, blocks), gatys (2015, VGG-19 Gram matrices)."))
    p.add_argument("sample", metavar="SAMPLE", help="The texture sample (JPEG, PNG, WebP, TIFF, BMP).")
    p.add_argument("-o", "--output", help="Output file; its extension sets the format (default: "
                   "./atelier-out/SAMPLE__texture-METHOD.png).")
    p.add_argument("--method", default=method, choices=texture_methods(), help=f"Synthesis method (default: "
                   f"{DEFAULT_METHOD}).")
    p.add_argument("--size", type=parse_int, nargs="+", default=[512], metavar="N",
                   help="Width and height of the texture in pixels: one number for a square, or WIDTH HEIGHT "
                   "(default: 512).")
    p.add_argument("--tileable", action="store_true", help="Make the texture wrap around seamlessly (it tiles "
                   "a plane); methods that can: " + ", ".join(
                       m for m in texture_methods() if atelier.method_spec(m).capabilities.tileable) + ".")
    p.add_argument("--seed", type=parse_int, default=0, help="Random seed: same seed and options, same texture.")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing output file.")
    add_metadata_option(p)
    add_watermark_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")
    add_config_options(p, spec.config_class, f"{method} options", texture=True)
    return p


def _default_output(sample: Path, method: str) -> Path:
    stem = f"{sample.stem}__texture-{method}"
    path, n = Path("atelier-out") / f"{stem}.png", 2
    while path.exists() or atelier.sidecar_path(path).exists():  # never clobber an earlier result
        path = Path("atelier-out") / f"{stem}-{n}.png"
        n += 1
    return path


def main(command: str, argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", default=DEFAULT_METHOD)
    known, _ = pre.parse_known_args(argv)
    if known.method not in texture_methods():
        raise atelier.errors.OptionError(f"The {known.method} method does not synthesise textures; choose one "
                                         f"of: {', '.join(texture_methods())}.")
    p = build_parser(known.method)
    args = p.parse_args(argv)
    if len(args.size) > 2:
        raise atelier.errors.OptionError("--size takes one number (a square) or two (WIDTH HEIGHT).")
    width, height = args.size[0], args.size[-1]
    # The fields a texture does not use are not options here ('--size' is the texture's own WIDTH HEIGHT).
    fields = [f for f in dataclasses.fields(atelier.method_spec(args.method).config_class)
              if f.metadata.get("texture", True) is not False]
    options = {f.name: getattr(args, f.name) for f in fields if getattr(args, f.name, None) is not None}
    sample = Path(args.sample)
    output = Path(args.output) if args.output else _default_output(sample, args.method)
    # Checked before any image is read or a progress bar is shown.
    prepared = atelier.prepare(args.method, options, n_styles=1, texture=True, tileable=args.tileable,
                               seed=args.seed)
    printer = None if args.quiet else ProgressPrinter(show=True)
    try:
        path, result = atelier.texture_to_file(
            sample, output, overwrite=args.overwrite, metadata=args.metadata, watermark=args.watermark, prepared=prepared, size=atelier.texture_size(
                (height, width)), tileable=args.tileable, seed=args.seed, device=args.device, callback=printer)
    except atelier.errors.Interrupted as err:
        where = f" Partial result: {output}" if err.partial is not None else ""
        print(f"atelier: interrupted.{where}", file=sys.stderr)
        return 130
    finally:
        if printer:
            printer.close()
    print(f"Wrote {path} ({width}x{height}, {args.method}, {result.info['timings']['total_seconds']:.1f} s); "
          f"settings in {atelier.sidecar_path(path)}")
    return 0
