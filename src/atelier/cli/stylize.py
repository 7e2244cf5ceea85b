"""``atelier stylize`` and ``atelier methods``: options generated from the method's config dataclass."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import atelier

from .common import (
    LazyPrinter,
    Parser,
    add_config_options,
    add_metadata_option,
    add_watermark_option,
    parse_float,
    parse_int,
    parse_method_args,
)
from .progress import ProgressPrinter


def build_parser(method: str) -> argparse.ArgumentParser:
    cls = atelier.method_spec(method)  # config and capabilities only: --help must not import torch
    p = Parser(
        prog="atelier stylize",
        description=(
            "Stylise CONTENT in the manner of the STYLE painting(s). With no inputs, stylises the embedded "
            "example photo with the embedded painting and writes it under ./atelier-out/."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    if cls.capabilities.needs_style:
        p.add_argument("content", nargs="?", metavar="CONTENT",
                       help="The photo to stylise (JPEG, PNG, WebP, TIFF, BMP).")
        p.add_argument("styles", nargs="*", metavar="STYLE", help="One or more style images (paintings).")
        p.add_argument("-o", "--output", help="Output file; its extension sets the format "
                       "(default: ./atelier-out/CONTENT__STYLE.png).")
    else:  # a trained network holds the style (or the method fills holes): every positional is a photo
        p.description = ("Fill the --mask region of each CONTENT photo from the rest of it." if cls.capabilities.fill
                         else "Stylise each CONTENT photo with the trained network given by --model (see "
                         "'atelier models').")
        p.add_argument("contents", nargs="*", metavar="CONTENT",
                       help="The photo(s) to stylise (JPEG, PNG, WebP, TIFF, BMP; default: the embedded "
                       "example photo).")
        p.add_argument("-o", "--output", help="Output file for one photo, or a directory (created) for "
                       "several (default: ./atelier-out/CONTENT__MODEL.png).")
    add_run_options(p, method)
    p.add_argument("--style-mask", nargs="+", metavar="MASK", help="One mask image per style, over that "
                   "painting: white where its style is taken from (with --mask, that photo region takes this "
                   "painting region; Gatys et al. 2017 §4). The same painting may be given twice with two masks.")
    p.add_argument("--save-regions", metavar="FILE.png", help="With --semantic: also write the regions found, "
                   "photo and painting side by side, paired regions in the same colour.")
    add_mix_options(p)
    p.add_argument("--save-every", type=parse_int, default=0, metavar="N",
                   help="Also write the image every N iterations beside the output (OUT.iterNNNNN.png).")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing output file.")
    p.add_argument("--dry-run", action="store_true", help="Print the estimated time and peak memory of the "
                   "run (after a few seconds of calibration), then exit without writing anything.")
    add_config_options(p, cls.config_class, f"{method} options")
    # The defaults are written into the help texts; argparse's own "(default: None)" would mislead.
    p.formatter_class = argparse.HelpFormatter
    return p


def add_run_options(p: argparse.ArgumentParser, method: str) -> None:
    """The options of one run besides the method's config: shared by ``atelier stylize`` and ``atelier
    batch`` (whose items are each a ``stylize`` run)."""
    names = {f.name for f in dataclasses.fields(atelier.method_spec(method).config_class)}
    if "model" not in names:
        p.add_argument("--model", metavar="NAME|PATH", help="Stylise with a trained feed-forward network "
                       "instead (selects --method johnson; then every positional is a photo; see "
                       "'atelier models').")
    p.add_argument("--method", default=method, choices=atelier.list_methods(), help="Style transfer method.")
    p.add_argument("--mask", nargs="+", metavar="MASK", help="One mask image per style: white where that "
                   "style applies; pixels no mask covers keep the photo unchanged.")
    p.add_argument("--seed", type=parse_int, default=0, help="Random seed: same seed and options, same image.")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    p.add_argument("--refine", type=parse_int, default=0, metavar="N",
                   help=atelier.RefineOptions.HELP)
    p.add_argument("--work-size", type=parse_int, default=0, metavar="PX", help=atelier.WorkSizeOptions.HELP)
    p.add_argument("--protect", default="none", metavar="faces", help=atelier.ProtectOptions.HELP)
    p.add_argument("--protect-strength", type=parse_float, metavar="S",
                   help=f"{atelier.ProtectOptions.STRENGTH_HELP} Default: {atelier.ProtectOptions.DEFAULT_STRENGTH}.")
    p.add_argument("--semantic", default="off", metavar="auto|K", help=atelier.SemanticOptions.HELP)
    add_metadata_option(p)
    add_watermark_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")


def region_options(args) -> dict:
    """--semantic as atelier.prepare's keyword (checked there, in one sentence)."""
    return {} if args.semantic == "off" else {"semantic": args.semantic}


def protect_options(args) -> dict:
    """--protect/--protect-strength as atelier.prepare's keywords (checked there, in one sentence)."""
    out = {} if args.protect == "none" else {"protect": args.protect}
    return out if args.protect_strength is None else {**out, "protect_strength": args.protect_strength}


def add_mix_options(p: argparse.ArgumentParser) -> None:
    """Styles mixed by scale and colour (Gatys et al. 2017 §3, §5); the methods that cannot are refused by
    atelier.prepare in one sentence."""
    p.add_argument("--coarse-style", metavar="IMAGE", help="Painting whose coarse structure (VGG blocks 3-5: "
                   "shapes, large patterns) the result takes; with --fine-style, instead of STYLE.")
    p.add_argument("--fine-style", metavar="IMAGE", help="Painting whose fine strokes (VGG blocks 1-2: brush "
                   "marks, grain) the result takes; with --coarse-style, instead of STYLE.")
    p.add_argument("--color-from", metavar="IMAGE", help="Paint in the colours of this image: the photo and "
                   "the painting(s) are recoloured to its colour mean and covariance first (Gatys et al. 2017 "
                   "§3, colour histogram matching).")


def _default_output(content: Path, styles: list[Path]) -> Path:
    out_dir = Path("atelier-out")
    stem = f"{content.stem}__{'+'.join(s.stem for s in styles)}" if styles else content.stem
    path = out_dir / f"{stem}.png"
    n = 2
    while path.exists() or atelier.sidecar_path(path).exists():  # never clobber an earlier result
        path = out_dir / f"{stem}-{n}.png"
        n += 1
    return path


def main(command: str, argv: list[str]) -> int:
    if command == "methods":
        return _list_methods()
    # Two passes: find --method (or --model, which selects johnson) first, then build the parser with
    # that method's options.
    args, options = parse_method_args(build_parser, argv)
    spec = atelier.method_spec(args.method)
    if not spec.capabilities.needs_style:
        return _feed_forward(args, options)

    mixed = args.coarse_style is not None or args.fine_style is not None
    if args.content is None:
        content, style = atelier.default_inputs()
        styles = [] if mixed else [style]
        print(f"No inputs given: stylising the embedded example ({content.name} with "
              f"{'the given styles' if mixed else style.name}).", file=sys.stderr)
    else:
        content, styles = Path(args.content), [Path(s) for s in args.styles]
    mix = {"coarse_style": args.coarse_style, "fine_style": args.fine_style, "color_from": args.color_from}
    styles, layer_weights = atelier.mix_inputs(styles or None, args.coarse_style, args.fine_style)
    styles = [Path(s) for s in styles]
    for path in (*styles, *(args.style_mask or []), args.color_from):  # missing, a directory or a FIFO: one sentence before any work
        if path is not None:
            atelier.check_input_file(path)
    output = Path(args.output) if args.output else _default_output(content, styles)
    # Checked torch-free, once, before any image is read or a progress bar shown (e.g. "no decoder").
    prepared = atelier.prepare(args.method, options, n_styles=len(styles),
                               n_masks=None if args.mask is None else len(args.mask), save_every=args.save_every,
                               refine=args.refine, work_size=args.work_size, seed=args.seed,
                               scale_mix=layer_weights is not None, color_from=args.color_from is not None,
                               n_style_masks=None if args.style_mask is None else len(args.style_mask),
                               **protect_options(args), **region_options(args))
    if args.dry_run:
        return _dry_run(content, styles, args, prepared)
    printer = None
    if not args.quiet or args.save_every:
        snapshots = atelier.provenance_record(
            "snapshot", args.method, config=prepared.config, seed=args.seed, masked=args.mask is not None,
            inputs={"content": content, "styles": styles, "masks": args.mask}) if args.metadata else None
        printer = ProgressPrinter(save_every=args.save_every, output=output, show=not args.quiet,
                                  metadata=snapshots)
    try:
        path, result = atelier.stylize_to_file(
            content, None if mixed else (styles or None), output, overwrite=args.overwrite, prepared=prepared,
            metadata=args.metadata, watermark=args.watermark, masks=args.mask, seed=args.seed, device=args.device,
            callback=printer, snapshots=bool(args.save_every), style_masks=args.style_mask,
            save_regions=args.save_regions, **mix,
        )
    except atelier.errors.Interrupted as err:
        if printer:
            printer.close()
        where = f" Partial result: {output}" if err.partial is not None else ""
        print(f"atelier: interrupted.{where}", file=sys.stderr)
        return 130
    finally:
        if printer:
            printer.close()
    _report(path, result.info)
    return 0


def _report(path: Path, info: dict) -> None:
    # A plug-in's info may have neither (it is what its method chose to record).
    work = (f"{info['tiles']} tile(s)" if "tiles" in info else
            f"{info['iterations']} iterations" if "iterations" in info else "done")
    print(f"Wrote {path} ({info['output_size'][0]}x{info['output_size'][1]}, {work}, "
          f"{info['timings']['total_seconds']:.1f} s); settings in {atelier.sidecar_path(path)}")


def _free_name(out_dir: Path, stem: str, taken: set[Path], overwrite: bool) -> Path:
    """out_dir/stem.png, numbered (stem-2.png, ...) past existing files and names already chosen."""
    path, n = out_dir / f"{stem}.png", 2
    while path in taken or (not overwrite and (path.exists() or atelier.sidecar_path(path).exists())):
        path = out_dir / f"{stem}-{n}.png"
        n += 1
    taken.add(path)
    return path


def _feed_forward_outputs(contents: list[Path], model: str, output: str | None,
                          overwrite: bool) -> list[Path]:
    """One output per content: -o is a file for one photo, a directory for several (default ./atelier-out).
    In a directory the names are CONTENT__MODEL.png, numbered rather than replacing a file (unless
    --overwrite)."""
    tag = Path(model).stem if model.lower().endswith((".safetensors", ".onnx")) else Path(model).name
    out = Path(output) if output else None
    if out is not None and len(contents) == 1 and not out.is_dir() and out.suffix:
        return [out]
    if out is not None and (out.is_file() or out.suffix):
        raise atelier.errors.OutputError(
            f"With {len(contents)} input photos, -o must be a directory, not '{out}'.")
    out_dir, taken = out or Path("atelier-out"), set()
    return [_free_name(out_dir, f"{c.stem}__{tag}", taken, overwrite) for c in contents]


def _feed_forward(args, options: dict) -> int:
    """Methods whose style is in a trained network: every positional is a photo, one output each."""
    # No photo given: the embedded example photo, as for the other methods (a first try of a model).
    contents = [Path(c) for c in args.contents] or [atelier.default_inputs()[0]]
    for c in contents:
        atelier.check_input_file(c)  # missing, a directory or a FIFO: one sentence before any work
    if args.coarse_style is not None or args.fine_style is not None:
        raise atelier.errors.OptionError(f"The {args.method} method's style is in its trained network: "
                                         "--coarse-style/--fine-style need a method that takes paintings.")
    prepared = atelier.prepare(args.method, options, n_masks=None if args.mask is None else len(args.mask),
                               save_every=args.save_every, refine=args.refine, work_size=args.work_size,
                               seed=args.seed, color_from=args.color_from is not None,
                               **protect_options(args), **region_options(args))  # fails before any work
    model_path = prepared.model_path
    fill = prepared.spec.capabilities.fill  # the mask's region filled from the rest of each photo
    tag = str(options.get("model", "")) or ("filled" if fill else args.method)
    outputs = _feed_forward_outputs(contents, tag, args.output, args.overwrite)
    inputs = [p for p in (*contents, model_path, *(args.mask or [])) if p is not None]
    for out in outputs:  # every output (and its sidecar) is checked before the first run
        atelier.plan_outputs(out, overwrite=args.overwrite, inputs=inputs)
    if args.dry_run:
        for content in contents:
            _dry_run(content, [], args, prepared)
        return 0
    for content, out in zip(contents, outputs):
        printer = None if args.quiet else LazyPrinter()
        try:
            path, result = atelier.stylize_to_file(
                content, None, out, overwrite=args.overwrite, prepared=prepared, seed=args.seed, metadata=args.metadata,
                watermark=args.watermark,
                device=args.device, callback=printer, masks=args.mask if fill else None,
            )
        finally:
            if printer:
                printer.close()
        _report(path, result.info)
    return 0


def _dry_run(content, styles, args, prepared) -> int:
    est = atelier.estimate(content, styles or None, prepared=prepared, device=args.device)
    if "tiles" in est:  # one forward pass, possibly in tiles
        (h, w) = est["scales"][0]["size"]
        tiles = f"{est['tiles']} tiles of {est['tile']} px" if est["tile"] else "one pass"
        print(f"Plan: {content.name}: {w}x{h} in {tiles}.")
        print(f"Estimated time: {est['seconds']:.1f} s; estimated peak memory: "
              f"{est['peak_bytes'] / 2**30:.2f} GiB. Nothing was written.")
        return 0
    scales = ", ".join(f"{s['size'][1]}x{s['size'][0]} x{s['iterations']}" for s in est["scales"])
    print(f"Plan: {scales} iterations.")
    print(f"Estimated time: {est['seconds']:.0f} s (at most; the stopping rule may end scales earlier); "
          f"estimated peak memory: {est['peak_bytes'] / 2**30:.2f} GiB. Nothing was written.")
    return 0


def _list_methods() -> int:
    width = max(map(len, atelier.list_methods()))
    for name in atelier.list_methods():
        spec = atelier.method_spec(name)
        caps = [k for k, v in dataclasses.asdict(spec.capabilities).items() if v]
        caps += ["trainable"] if spec.trainable else []
        print(f"{name:{width}s} {spec.describe()}  [{', '.join(caps)}]")
    return 0
