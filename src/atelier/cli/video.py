"""``atelier video IN OUT``: stylise a video file or a folder of frames with any video-capable method."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import atelier

from .stylize import _int, _LazyPrinter, _Parser, add_config_options


class _VideoParser(_Parser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"atelier video: error: {message}.\n")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def build_parser(method: str) -> argparse.ArgumentParser:
    spec = atelier.method_spec(method)  # config and capabilities only: --help must not import torch
    p = _VideoParser(
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
    names = {f.name for f in dataclasses.fields(spec.config_class)}
    if "model" not in names:
        p.add_argument("--model", metavar="NAME|PATH", help="Stylise with a trained feed-forward network "
                       "instead (selects --method johnson; see 'atelier models').")
    p.add_argument("--method", default=method, choices=[m for m in atelier.list_methods()
                                                         if atelier.method_spec(m).capabilities.video],
                   help="Style transfer method (default: johnson with --model, else gatys).")
    if spec.capabilities.masks:
        p.add_argument("--mask", nargs="+", metavar="MASK", help="One mask image per style (the same for every "
                       "frame): white where that style applies.")
    v = p.add_argument_group("video options")
    v.add_argument("--temporal-weight", type=_float, default=1.0, metavar="X",
                   help="How strongly each frame follows the previous result along the motion; 0 stylises "
                   "frames independently (flickers). Feed-forward and arbitrary-style methods (johnson, adain, "
                   "sanet) blend the warped previous result into the new one where the motion is reliable; "
                   "gatys adds Ruder et al.'s temporal loss. (default: 1)")
    v.add_argument("--start", metavar="TIME", help="Start at this time (seconds, MM:SS or HH:MM:SS).")
    v.add_argument("--end", metavar="TIME", help="Stop at this time (seconds, MM:SS or HH:MM:SS).")
    v.add_argument("--max-frames", type=_int, metavar="N", help="Stylise at most N frames.")
    v.add_argument("--fps", type=_float, metavar="X", help="Frame rate of a folder of frames (default: 25); "
                   "a video file keeps its own.")
    v.add_argument("--resume", action="store_true", help="Continue an interrupted job with the same options: "
                   "finished frames are kept, not recomputed.")
    v.add_argument("--keep-frames", action="store_true", help="Keep the PNG frames (OUT.frames/) after the "
                   "MP4 is written.")
    v.add_argument("--crf", type=_int, default=18, metavar="N", help="H.264 quality, 0 (lossless) to 51; "
                   "lower is better and larger. (default: 18)")
    v.add_argument("--flow-preset", default="fast", choices=("ultrafast", "fast", "medium"),
                   help="OpenCV DIS optical-flow preset: accuracy against speed. (default: fast)")
    v.add_argument("--flow-size", type=_int, default=640, metavar="PX", help="Compute the flow and where it "
                   "is reliable at most at this long side (faster for large videos); 0 = the output's size. "
                   "(default: 640)")
    p.add_argument("--seed", type=_int, default=0, help="Random seed (frame k uses seed + k).")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing output and start again.")
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")
    add_config_options(p, spec.config_class, f"{method} options")
    return p


def main(command: str, argv: list[str]) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method")
    pre.add_argument("--model")
    known, _ = pre.parse_known_args(argv)
    method = known.method or ("johnson" if known.model is not None else "gatys")
    if method not in atelier.list_methods():
        raise atelier.errors.OptionError(f"Unknown method {method!r}; choose one of: "
                                         f"{', '.join(atelier.list_methods())}.")
    args = build_parser(method).parse_args(argv)
    spec = atelier.method_spec(args.method)
    names = [f.name for f in dataclasses.fields(spec.config_class)]
    options = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if "model" not in names and args.model is not None:
        raise atelier.errors.OptionError(f"--model selects a trained network (the johnson method); it cannot "
                                         f"be used with --method {args.method}.")
    styles = getattr(args, "style", None)
    printer = None if args.quiet else _LazyPrinter()  # appears with the first event, not before errors
    try:
        result = atelier.stylize_video(
            args.input, args.output, styles, method=args.method, masks=getattr(args, "mask", None),
            temporal_weight=args.temporal_weight, max_frames=args.max_frames, start=args.start, end=args.end,
            fps=args.fps, flow_preset=args.flow_preset, flow_size=args.flow_size, crf=args.crf,
            resume=args.resume, overwrite=args.overwrite, keep_frames=args.keep_frames, seed=args.seed,
            device=args.device, callback=printer, **options,
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
