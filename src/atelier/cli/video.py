"""``atelier video IN OUT``: stylise a video file or a folder of frames with any video-capable method.

The options come from the declarations: the video pipeline's from :class:`~atelier.video.config.atelier.VideoConfig`,
the method's from its config, the method itself from ``--method`` or the one that runs ``--model``'s file
(:func:`~atelier.cli.stylize.parse_method_args`, shared with ``atelier stylize``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import atelier
from atelier.options import make_config

from .common import LazyPrinter, Parser, add_config_options, add_metadata_option, parse_int, parse_method_args


def build_parser(method: str) -> argparse.ArgumentParser:
    spec = atelier.method_spec(method)  # config and capabilities only: --help must not import torch
    p = Parser(
        prog="atelier video",
        description=(
            "Stylise the video IN (mp4, mov, avi, mkv, webm, or a folder of numbered frames) into OUT (an .mp4: "
            "H.264 that browsers play, same frame rate, the input's audio; or a folder of PNG frames). Each "
            "frame is stylised with the chosen method; the previous result, warped along the optical flow, "
            "keeps the video from flickering (Ruder et al. 2016). An interrupted job continues with --resume."
        ),
    )
    p.add_argument("input", metavar="IN", help="Video file or folder of frames (frame_0001.png, ...).")
    p.add_argument("output", metavar="OUT", help="Output .mp4 file, or a folder for PNG frames.")
    if spec.capabilities.needs_style:
        p.add_argument("--style", nargs="+", metavar="STYLE", help="Style image(s) (paintings).")
    if "model" not in {f.name for f in dataclasses.fields(spec.config_class)}:
        p.add_argument("--model", metavar="NAME|PATH", help="Stylise with a trained network instead: selects "
                       "the method that runs it (see 'atelier models').")
    p.add_argument("--method", default=method, choices=[m for m in atelier.list_methods()
                                                         if atelier.method_spec(m).capabilities.video],
                   help="Style transfer method (default: the one that runs --model, else gatys).")
    if spec.capabilities.masks:
        p.add_argument("--mask", nargs="+", metavar="MASK", help="One mask image per style (the same for every "
                       "frame): white where that style applies.")
    p.add_argument("--resume", action="store_true", help="Continue an interrupted job with the same options: "
                   "finished frames are kept, not recomputed.")
    p.add_argument("--seed", type=parse_int, default=0, help="Random seed (frame k uses seed + k).")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing output and start again.")
    add_metadata_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")
    add_config_options(p, atelier.VideoConfig, "video options")
    add_config_options(p, spec.config_class, f"{method} options")
    return p


def main(command: str, argv: list[str]) -> int:
    args, options = parse_method_args(build_parser, argv)
    # Checked here, before a progress bar: one sentence for a value out of range (e.g. --crf 60).
    video = make_config(atelier.VideoConfig, {f.name: getattr(args, f.name) for f in dataclasses.fields(atelier.VideoConfig)})
    printer = None if args.quiet else LazyPrinter()  # appears with the first event, not before errors
    try:
        result = atelier.stylize_video(
            args.input, args.output, getattr(args, "style", None), method=args.method,
            masks=getattr(args, "mask", None), resume=args.resume, overwrite=args.overwrite, seed=args.seed,
            device=args.device, callback=printer, video=video, metadata=args.metadata, **options,
        )
    except atelier.errors.Interrupted as err:
        if printer:
            printer.close()
        print(f"atelier: {err}", file=sys.stderr)
        return 130
    finally:
        if printer:
            printer.close()
    v, t = result.info["video"], result.info["timings"]
    rate = f", {t['frames_per_second']:.2f} frames/s" if t["frames_per_second"] else ""
    audio = f", audio {v['audio']}" if v.get("audio") else ""
    print(f"Wrote {result.output} ({result.frames} frames, {v['size'][0]}x{v['size'][1]}{audio}, "
          f"{t['total_seconds']:.1f} s{rate}).")
    return 0
