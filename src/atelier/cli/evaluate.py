"""``atelier eval`` and ``atelier compare``: the judge's front end."""

from __future__ import annotations

import json
from pathlib import Path

import atelier

from .common import Parser, add_metadata_option


def _eval(argv: list[str]) -> int:
    metrics = atelier.metrics
    p = Parser(prog="atelier eval", description="Measure a stylised image against its content and style "
                "images at a fixed evaluation size, so numbers are comparable across runs; or, with --kid, "
                "how far one folder of images looks from another (KID on VGG-19 features).")
    p.add_argument("output", nargs="*", help="Stylised image(s) to judge.")
    p.add_argument("--content", help="The content photo the output was made from.")
    p.add_argument("--style", help="The style image the output was made from.")
    p.add_argument("--kid", nargs=2, metavar=("FOLDER_A", "FOLDER_B"),
                   help="Kernel Inception Distance between two image sets (Binkowski et al. 2018) on VGG-19 "
                   "features, with a 95%% bootstrap interval; not comparable to published FID/KID numbers.")
    p.add_argument("--size", type=int, help=f"Evaluation long side in pixels (default {metrics.EVAL_SIZE}); "
                   f"with --kid the short side every image is resized to (default {metrics.KID_SIZE}).")
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = p.parse_args(argv)
    if args.kid:
        if args.output or args.content or args.style:
            raise atelier.errors.OptionError("--kid compares two folders: give no output images, --content "
                                             "or --style with it.")
        return _print_kid(args.kid, args.size, args.json)
    if not args.output:
        raise atelier.errors.OptionError("Give the stylised image(s) to judge, or --kid FOLDER_A FOLDER_B.")
    if args.content is None and args.style is None:
        raise atelier.errors.OptionError("Give --content and/or --style to measure the output against.")
    size = metrics.EVAL_SIZE if args.size is None else args.size
    rows = []
    for out in args.output:
        scores = metrics.evaluate(out, content=args.content, style=args.style, size=size)
        rows.append({"image": out, **{k: round(v, 5) for k, v in scores.items()}})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(metrics.format_table(rows, list(rows[0])))
        print()
        for key in rows[0]:
            if key in metrics.METRICS:
                print(f"  {key}: {metrics.METRICS[key]}")
    return 0


def _kid_size(size: int | None) -> int:
    return atelier.metrics.KID_SIZE if size is None else size  # checked by metrics.collection_features


def _print_kid(folders, size: int | None, as_json: bool) -> int:
    result = atelier.metrics.kid_folders(folders[0], folders[1], size=_kid_size(size))
    result = {"a": folders[0], "b": folders[1], **result}
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"KID {result['kid']:.4g}  (95% bootstrap interval {result['low']:.4g} .. {result['high']:.4g}; "
          f"subset std {result['subset_std']:.2g})")
    for side in ("a", "b"):
        skipped = f", {result['skipped_' + side]} unreadable skipped" if result["skipped_" + side] else ""
        print(f"  {side.upper()}: {result['n_' + side]} images in {result[side]}{skipped}")
    print(f"  {result['n_subsets']} subsets of {result['subset_size']}, {result['n_bootstrap']} bootstrap "
          f"resamples; VGG-19 relu4_1+relu5_1 mean/std at {result['size']} px. 0 = same look; comparable only "
          "with other KIDs of atelier at the same size, not with published FID/KID (Inception) numbers.")
    return 0


def _compare(argv: list[str]) -> int:
    p = Parser(prog="atelier compare", description="Run several methods/settings on content x style pairs; "
                "write a contact sheet, a metrics table (md, csv, json) and loss curves into OUT_DIR.")
    p.add_argument("--kid", nargs="+", metavar=("REFERENCE", "FOLDER"),
                   help="Compare folders instead: the KID of each FOLDER to the REFERENCE folder (VGG-19 "
                   "features, 95%% bootstrap interval; --size: the short side images are resized to, default 256), "
                   "written to OUT_DIR/kid.md/.csv/.json.")
    p.add_argument("--content", nargs="+", help="Content photo(s) (default: the embedded example).")
    p.add_argument("--style", nargs="+", help="Style image(s) (default: the embedded example).")
    p.add_argument("--run", action="append", dest="runs", metavar="SPEC",
                   help="METHOD[:key=value,...][@LABEL], repeatable, e.g. 'gatys:style_strength=2@strong'. "
                   "Lists use |: 'gatys:style_layers=relu1_1|relu2_1'. Default: one run of gatys.")
    p.add_argument("-o", "--output", default="atelier-compare", help="Output directory.")
    p.add_argument("--size", type=int, help="Output size for every run (a shortcut for size=N in each spec).")
    p.add_argument("--eval-size", type=int, default=512, help="Evaluation long side of the metrics.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true", help="Replace an earlier comparison in OUT_DIR.")
    add_metadata_option(p)
    args = p.parse_args(argv)
    if args.kid:
        return _compare_folders(args)
    content, style = atelier.default_inputs()
    specs = [atelier.RunSpec.parse(r) for r in (args.runs or ["gatys"])]
    for s in specs:
        atelier.get_method(s.method)  # unknown methods fail before any work
        if args.size and "size" not in s.options:
            s.options["size"] = args.size
    from .progress import ProgressPrinter

    printer = ProgressPrinter()
    try:
        result = atelier.compare(args.content or [content], args.style or [style], specs, Path(args.output),
                                 seed=args.seed, device=args.device, eval_size=args.eval_size,
                                 overwrite=args.overwrite, callback=printer, metadata=args.metadata)
    finally:
        printer.close()
    print(f"Wrote {result['out_dir']}/contact_sheet.png, metrics.md/.csv/.json and loss_curves.png "
          f"({len(result['rows'])} rows).")
    return 0


def _compare_folders(args) -> int:
    if len(args.kid) < 2:
        raise atelier.errors.OptionError("--kid needs a reference folder and at least one folder to compare.")
    if args.runs or args.content or args.style:
        raise atelier.errors.OptionError("--kid compares folders: give no --run, --content or --style with it.")
    if args.eval_size != 512:
        raise atelier.errors.OptionError("--kid uses --size for its image size, not --eval-size.")
    reference, folders = args.kid[0], args.kid[1:]
    rows = atelier.compare_folders(folders, reference, args.output, size=_kid_size(args.size),
                                   overwrite=args.overwrite, seed=args.seed)
    print(atelier.metrics.format_table(rows))
    print(f"\nKID to {reference}; 0 = same look. Not comparable to published FID/KID (Inception) numbers.")
    if len(folders) > 1:
        print(f"minus_first: a folder's KID minus that of {folders[0]}, with the difference's own 95% interval "
              "(paired when both hold the same file names); an interval entirely below 0 = clearly closer.")
    print(f"Wrote {args.output}/kid.md/.csv/.json.")
    return 0


def main(command: str, argv: list[str]) -> int:
    return _eval(argv) if command == "eval" else _compare(argv)
