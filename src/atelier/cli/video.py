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
    p.add_argument("--style-at", action="append", metavar="TIME=STYLE",
                   help="A style keyframe (repeatable): from TIME (seconds or MM:SS) the style is STYLE, a painting "
                   "or (johnson) a model; between keyframes it changes smoothly. Replaces --style.")
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
    p.add_argument("--work-size", type=parse_int, default=None, metavar="PX",
                   help=f"{atelier.WorkSizeOptions.HELP} (default for videos: {atelier.WorkSizeOptions.VIDEO or 'off'})")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing output and start again.")
    add_metadata_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")
    p.add_argument("--dry-run", action="store_true", help="Print the estimated frames per second and total time "
                   "(after stylising the first few frames as a calibration), then exit without writing anything.")
    add_config_options(p, atelier.VideoConfig, "video options")
    add_config_options(p, spec.config_class, f"{method} options")
    return p


def _keyframe_method(argv: list[str]) -> list[str]:
    """With --style-at and neither --method nor --model, the keyframes choose the method (models: the one
    that runs them), as --model does."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--style-at", action="append")
    pre.add_argument("--method")
    pre.add_argument("--model")
    known, _ = pre.parse_known_args(argv)
    if not known.style_at or known.method or known.model:
        return argv
    method = atelier.style_at_method(known.style_at)
    return argv if method is None else ["--method", method, *argv]


def main(command: str, argv: list[str]) -> int:
    args, options = parse_method_args(build_parser, _keyframe_method(argv))
    # Checked here, before a progress bar: one sentence for a value out of range (e.g. --crf 60).
    video = make_config(atelier.VideoConfig, {f.name: getattr(args, f.name) for f in dataclasses.fields(atelier.VideoConfig)})
    if args.dry_run:
        return _dry_run(args, video, options)
    printer = None if args.quiet else LazyPrinter()  # appears with the first event, not before errors
    try:
        result = atelier.stylize_video(
            args.input, args.output, getattr(args, "style", None), style_at=args.style_at, method=args.method,
            masks=getattr(args, "mask", None), resume=args.resume, overwrite=args.overwrite, seed=args.seed,
            device=args.device, callback=printer, video=video, work_size=args.work_size, metadata=args.metadata,
            **options,
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


def _dry_run(args, video, options: dict) -> int:
    est = atelier.estimate_video(args.input, getattr(args, "style", None), style_at=args.style_at, method=args.method,
                         masks=getattr(args, "mask", None), seed=args.seed, device=args.device, video=video,
                         work_size=args.work_size, to_mp4=str(args.output).lower().endswith(".mp4"), **options)
    size = "x".join(map(str, est["size"]))
    work = f", the method at {'x'.join(map(str, est['work']))}" if est["work"] else ""
    count = f"{est['frames']} frames" if est["frames"] is not None else "frames (length unknown: per-frame figures)"
    print(f"Plan: {count} at {size}{work}.")
    compiled = (f"; {1 / est['compiled_seconds_per_frame']:.2f} frames/s once compiled (compiling "
                f"~{est['compile_seconds']:.0f} s)" if "compile_seconds" in est else "")
    print(f"Estimated: {1 / est['seconds_per_frame']:.2f} frames/s{compiled}; "
          f"{est['frames_per_second']:.2f} frames/s and {est['seconds']:.0f} s for the whole job. Nothing was written.")
    return 0
