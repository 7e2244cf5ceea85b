"""``atelier explain PAINTING -o DIR``: a sheet of what the Gram style loss takes from a painting (Gatys et
al. 2016, Fig. 1): reconstructions from noise by layer, the leading directions of each layer's Gram matrix
as heat maps over the painting, and with ``--result`` each layer's share of a stylisation's remaining style
loss. A thin front end of :func:`atelier.explain`."""

from __future__ import annotations

import sys

import atelier

from .common import Parser, parse_int
from .progress import ProgressPrinter


def build_parser() -> Parser:
    p = Parser(prog="atelier explain", description=(
        "Explain a painting's style as the network sees it: DIR/sheet.jpg with five reconstructions from "
        "white noise (Gram losses of relu1_1, then + relu2_1 ... + relu5_1), the three leading directions of "
        "each layer's Gram matrix as heat maps over the painting, and with --result each layer's share of the "
        "result's remaining style loss; the images one by one and DIR/explain.json beside it."))
    p.add_argument("painting", metavar="PAINTING", help="The painting (JPEG, PNG, WebP, TIFF, BMP).")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="Folder for the sheet and its images.")
    p.add_argument("--size", type=parse_int, default=256, metavar="N",
                   help="Long side in pixels (32 to 1024; default 256: "
                   "the whole sheet in about 5 minutes on 2 CPU cores).")
    p.add_argument("--result", metavar="OUT.png", help="A finished stylisation of this painting: adds each "
                   "layer's share of its remaining style loss.")
    p.add_argument("--iterations", type=parse_int, metavar="N",
                   help="L-BFGS steps per reconstruction, half at half size (default 50).")
    p.add_argument("--seed", type=parse_int, default=0, help="Seed of the white noise the reconstructions start from.")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    p.add_argument("--overwrite", action="store_true", help="Replace the files of an earlier sheet in DIR.")
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")
    return p


def main(command: str, argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    kwargs = {"size": args.size, "result": args.result, "overwrite": args.overwrite}
    if args.iterations is not None:  # else the library's default
        kwargs["iterations"] = args.iterations
    atelier.check_explain(args.painting, args.output, **kwargs)  # refusals before the progress bar
    printer = None if args.quiet else ProgressPrinter(show=True)
    try:
        res = atelier.explain(args.painting, args.output, seed=args.seed, device=args.device, callback=printer,
                              **kwargs)
    except KeyboardInterrupt:
        print("atelier: interrupted; no sheet was written.", file=sys.stderr)
        return 130
    finally:
        if printer:
            printer.close()
    print(f"Wrote {res.files[0]} and {len(res.files) - 1} more files in {res.dir} ({res.data['seconds']:.0f} s).")
    return 0
