"""``atelier batch``: many photos through one method, resumable; a thin front end of ``atelier.run_batch``.

Exit codes: 0 when every item is done, 1 when some failed (their sentences are printed and kept in the
manifest), 2 for a command that cannot run, 130 when stopped (Ctrl-C, SIGTERM: run it again to resume).
"""

from __future__ import annotations

import argparse
import sys

import atelier

from .common import LazyPrinter, Parser, add_config_options, parse_int, parse_method_args
from .stylize import add_run_options, protect_options, region_options

SHOWN_FAILURES = 10


def build_parser(method: str) -> argparse.ArgumentParser:
    spec = atelier.method_spec(method)
    p = Parser(
        prog="atelier batch",
        description="Stylise every photo of INPUTS into OUT_DIR with one method and its options (each item "
        "as 'atelier stylize' would: same image for the same seed, same sidecar). OUT_DIR/atelier-batch.json "
        "records each item's state: run the same command again to resume after a stop or a failure.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="Photos, folders (every image below them; sub-folders are mirrored in OUT_DIR), glob "
                   "patterns ('photos/**/*.jpg') or CSV manifests (a 'content' column and optional 'style', "
                   "'mask', 'output', 'method', 'seed' and method-option columns overriding the command's "
                   "values per row).")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="The output folder (created).")
    if spec.capabilities.needs_style:
        p.add_argument("--style", nargs="+", metavar="STYLE", help="The style image(s) (painting) of every item "
                       "(a CSV row's 'style' replaces them).")
    add_run_options(p, method)
    p.add_argument("--workers", type=parse_int, metavar="N", help="Worker processes on this machine, each "
                   "with cores/N torch threads and its own copy of the networks (default: "
                   f"{atelier.default_workers()} here, one per core; 1 runs in this process).")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Run the items on a Dask cluster instead, e.g. "
                   "tcp://host:8786 (pip install 'atelier[dist]'; workers must see the same files).")
    add_config_options(p, spec.config_class, f"{method} options")
    return p


def main(command: str, argv: list[str]) -> int:
    args, options = parse_method_args(build_parser, argv)
    if args.workers is not None and args.scheduler is not None:
        raise atelier.errors.OptionError("Give --workers (this machine) or --scheduler (a Dask cluster), not both.")
    printer = None if args.quiet else LazyPrinter()  # no bar before the work starts (or fails to)
    try:
        report = atelier.run_batch(
            args.inputs, args.output, style=getattr(args, "style", None), method=args.method, masks=args.mask,
            seed=args.seed, refine=args.refine, device=args.device, workers=args.workers,
            scheduler=args.scheduler, callback=printer, write={"metadata": args.metadata, "watermark": args.watermark},
            **({"work_size": args.work_size} if args.work_size else {}), **protect_options(args), **region_options(args),
            **options,
        )
    except atelier.errors.Interrupted as err:
        if printer:
            printer.close()
        print(f"atelier: interrupted. {err}", file=sys.stderr)
        return 130
    finally:
        if printer:
            printer.close()
    return _report(report)


def _report(report) -> int:
    counts = report.counts
    rate = f", {report.items_per_second:.2f} items/s" if report.ran else ""
    print(f"{report.ran} item(s) run in {report.seconds:.1f} s{rate}; {report.skipped} already done; "
          f"{counts['done']} done in all, in {report.out_dir} (manifest: {report.manifest}).")
    for content, error in report.failures[:SHOWN_FAILURES]:
        print(f"  failed: {content}: {error}", file=sys.stderr)
    if len(report.failures) > SHOWN_FAILURES:
        print(f"  ... and {len(report.failures) - SHOWN_FAILURES} more (see the manifest).", file=sys.stderr)
    if counts["failed"]:
        print(f"atelier: error: {counts['failed']} of {sum(counts.values())} item(s) failed; fix them and run "
              "the same command again to retry them.", file=sys.stderr)
        return 1
    return 0
