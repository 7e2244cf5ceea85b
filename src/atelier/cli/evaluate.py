"""``atelier eval`` and ``atelier compare``: the judge's front end."""

from __future__ import annotations

import json
from pathlib import Path

import atelier

from .common import Parser, add_metadata_option


def _eval(argv: list[str]) -> int:
    metrics = atelier.metrics
    p = Parser(prog="atelier eval", description="Measure a stylised image against its content and style "
                "images at a fixed evaluation size, so numbers are comparable across runs.")
    p.add_argument("output", nargs="+", help="Stylised image(s) to judge.")
    p.add_argument("--content", help="The content photo the output was made from.")
    p.add_argument("--style", help="The style image the output was made from.")
    p.add_argument("--size", type=int, default=metrics.EVAL_SIZE, help="Evaluation long side in pixels.")
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = p.parse_args(argv)
    if args.content is None and args.style is None:
        raise atelier.errors.OptionError("Give --content and/or --style to measure the output against.")
    rows = []
    for out in args.output:
        scores = metrics.evaluate(out, content=args.content, style=args.style, size=args.size)
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


def _compare(argv: list[str]) -> int:
    p = Parser(prog="atelier compare", description="Run several methods/settings on content x style pairs; "
                "write a contact sheet, a metrics table (md, csv, json) and loss curves into OUT_DIR.")
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


def main(command: str, argv: list[str]) -> int:
    return _eval(argv) if command == "eval" else _compare(argv)
