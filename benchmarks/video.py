"""Video: temporal stability against per-frame stylisation, --work-size against the full-size pipeline, and
end-to-end throughput at 1280x720 and 1920x1080.

    python benchmarks/video.py [--model NAME|PATH] [--size 384] [--arbitrary adain sanet] [--gatys-size 128]
                               [--gatys-frames 8] [--no-gatys] [--work-sizes 640 480 384]
                               [--only stability|work_size|throughput]

Stability: for each clip (../shared/data/video/sintel, ../shared/data/registry/video/{tree,vtest}) and
each method (johnson with the bundled starry_night model; adain and sanet with their bundled decoders and
starry_night.jpg; gatys at a small size with few iterations), the same settings are run with
--temporal-weight 0 (every frame on its own) and with the default weight. Reported: the
warping error of Lai et al. 2018 (atelier.metrics.warping_error: DIS flow "medium" on the input frames,
occlusions masked) over all consecutive pairs, its reduction, and the style distance (style_gram and
style_swd of atelier.metrics.evaluate against the painting, mean over every 10th frame, every 3rd
for clips of 20 frames or fewer) and its change. Two more johnson rows run sintel at its full 1024x436
with the flow computed at full size and at 640 px (the default ``flow_size``).
Note that the pipeline's own flow (DIS "fast" by default) is not the judge's ("medium").

Work size: sintel (output at 1280x545) and vtest resized to 1280x720, johnson fp32, stylised at the full size and at
each --work-size: warping error, style_swd (every 10th frame) and content distance, each as a change
against the full-size run of the same clip.

Throughput: 1280x720 and 1920x1080 H.264 clips with an AAC track (vtest's frames resized, 30 fps, made in a
temporary folder) through ``atelier.stylize_video`` with the compact johnson model, end to end (decode,
flow, network, blend, detail upsampling, PNG resume frames, H.264 encode, audio copy), compiled, fp32 (bf16
too where the CPU has it). Reported: the median frame rate (from the interval between frames: the steady
rate after compilation), the frame loop's mean rate (as the CLI shows), the whole call's including start-up
and compilation, plus the parts timed on their own.
Writes benchmarks/results/video.json and video.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CLIPS = {"sintel": SHARED / "video" / "sintel", "tree": SHARED / "registry" / "video" / "tree",
         "vtest": SHARED / "registry" / "video" / "vtest"}
STYLE = SHARED / "styles" / "starry_night.jpg"
DEFAULT_MODEL = "starry_night"  # the bundled compact johnson model (a name or a file)


def default_flow_size() -> int:
    """The video pipeline's ``flow_size`` default (read from VideoConfig, so this benchmark follows the
    library)."""
    from atelier.video.config import VideoConfig

    return VideoConfig().flow_size


def frames_of(folder: Path, n: int | None, distinct: bool = False) -> list[Path]:
    """The first ``n`` (all if None) frame files; ``distinct``: skipping exact repeats of the previous frame
    (tree.avi shows each picture for ~6 frames: repeats are stable whatever the method, and eight frames of
    it would hold no motion at all)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    if distinct:
        from PIL import Image

        kept, prev = [], None
        for f in files:
            arr = np.asarray(Image.open(f).convert("RGB"))
            if prev is None or not np.array_equal(arr, prev):
                kept.append(f)
            prev = arr
        files = kept
    return files[:n] if n else files


def stability(args) -> list[dict]:
    import atelier
    from atelier.metrics import evaluate, warping_error

    runs = [("johnson", "johnson", {"model": str(args.model), "size": args.size}, None, args.frames, CLIPS)]
    for method in args.arbitrary:  # the bundled decoders, with the painting
        runs.append((method, method, {"size": args.size}, STYLE, args.frames, CLIPS))
    if not args.no_gatys:
        runs.append(("gatys", "gatys", {"size": args.gatys_size, "min_size": args.gatys_size,
                                        "iterations": args.gatys_iterations, "tolerance": 0.0},
                     STYLE, args.gatys_frames, CLIPS))
    # The flow's size: sintel at its full 1024x436, flow and check at the output's size vs at 640 px (the
    # default), which is what makes large videos faster.
    for flow_size in (0, default_flow_size()):
        runs.append((f"johnson, flow at {flow_size or 'full size'}", "johnson",
                     {"model": str(args.model), "size": 1024, "flow_size": flow_size}, None, args.frames,
                     {"sintel": CLIPS["sintel"]}))
    rows = []
    for label, method, options, style, n, clips in runs:
        for clip, folder in clips.items():
            if args.rows and f"{clip}/{label}" not in args.rows:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                src = Path(tmp) / "in"
                src.mkdir()
                for i, f in enumerate(frames_of(folder, n, distinct=True)):
                    os.symlink(f, src / f"frame_{i:04d}{f.suffix}")
                row = {"clip": clip, "method": label, "frames": len(list(src.iterdir())), "options": options}
                for w in (0.0, args.weight):
                    t0 = time.perf_counter()
                    res = atelier.stylize_video(src, Path(tmp) / f"out{w:g}", style, method=method,
                                                temporal_weight=w, **options)
                    seconds = time.perf_counter() - t0
                    outs = sorted(res.output.glob("frame_*.png"))
                    ins = sorted(src.iterdir())
                    e = warping_error(outs, ins)
                    sample = range(0, len(outs), 10 if len(outs) > 20 else 3)
                    styles = [evaluate(outs[i], style=STYLE) for i in sample]
                    key = "per_frame" if w == 0 else "temporal"
                    row[key] = {
                        "temporal_weight": w, "warping_error": e, "seconds": round(seconds, 2),
                        "style_gram": float(np.mean([s["style_gram"] for s in styles])),
                        "style_swd": float(np.mean([s["style_swd"] for s in styles])),
                        "size": res.info["video"]["size"],
                        "reliable": res.info["video"]["mean_reliable_fraction"],
                    }
                    print(f"{clip:7s} {label:8s} w={w:g}: warping error {e:.5f}, style_swd "
                          f"{row[key]['style_swd']:.4f}, {seconds:.1f} s", file=sys.stderr, flush=True)
                pf, tp = row["per_frame"], row["temporal"]
                row["warping_error_reduction"] = 1 - tp["warping_error"] / pf["warping_error"]
                row["style_gram_change"] = tp["style_gram"] / pf["style_gram"] - 1
                row["style_swd_change"] = tp["style_swd"] / pf["style_swd"] - 1
                rows.append(row)
    return rows


def make_clip(path: Path, n: int, fps: int = 30, size: tuple[int, int] = (1280, 720)) -> Path:
    """An H.264 clip of ``n`` frames at ``size`` (w, h) from vtest's frames, with an AAC tone."""
    import av
    import cv2

    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
    vs.codec_context.options = {"crf": "20", "preset": "veryfast"}
    a = out.add_stream("aac", rate=48000)
    a.layout = "stereo"
    files = frames_of(CLIPS["vtest"], None)
    for i in range(n):
        bgr = cv2.imread(str(files[i % len(files)]))
        rgb = cv2.resize(bgr, size, interpolation=cv2.INTER_CUBIC)[..., ::-1]
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        f.pts = i
        for p in vs.encode(f):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    t = np.arange(int(48000 * n / fps)) / 48000
    sig = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for k in range(0, len(sig), 1024):
        chunk = np.stack([sig[k:k + 1024]] * 2)
        af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        af.sample_rate, af.pts = 48000, k
        for p in a.encode(af):
            out.mux(p)
    for p in a.encode(None):
        out.mux(p)
    out.close()
    return path


class FrameClock:
    """A progress callback that records when each frame was finished: the median frame interval gives the
    steady rate (after a compilation or a slow first frame), as the issue's target asks."""

    def __init__(self):
        self.stamps: list[float] = []

    def __call__(self, event) -> None:
        if type(event).__name__ == "Progress":
            self.stamps.append(time.perf_counter())

    def median_rate(self) -> float | None:
        gaps = np.diff(self.stamps)
        return float(1 / np.median(gaps)) if len(gaps) else None


def throughput(args) -> list[dict]:
    """End to end (decode, stylise, encode, audio copied) at 1280x720 and 1920x1080, fp32 (and bf16 where the
    CPU has it), the full-size pipeline against --work-size."""
    import atelier

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in ((1280, 720), (1920, 1080)):
            clip = make_clip(Path(tmp) / f"clip{size[1]}.mp4", args.throughput_frames, size=size)
            for v in throughput_variants(args, size):
                out = Path(tmp) / "out.mp4"
                est = dry_run(clip, str(args.compact_model), v)
                clock = FrameClock()
                t0 = time.perf_counter()
                res = atelier.stylize_video(clip, out, model=str(args.compact_model), overwrite=True,
                                            callback=clock, **v)
                total = time.perf_counter() - t0
                rows.append({"size": list(size), "options": v, "frames": res.frames, "audio": res.info["video"]["audio"],
                             "median_frames_per_second": clock.median_rate(),
                             "loop_frames_per_second": res.info["timings"]["frames_per_second"],
                             "end_to_end_frames_per_second": res.frames / total, "total_seconds": round(total, 2),
                             "dry_run_seconds": est, "dry_run_error": est / total - 1 if est else None})
                print(f"throughput {size} {v}: {rows[-1]}", file=sys.stderr, flush=True)
        rows.append({"parts_ms": parts(Path(tmp) / "clip720.mp4", args.compact_model, args.work_sizes)})
    return rows


def dry_run(clip: Path, model: str, v: dict) -> float | None:
    """``atelier video --dry-run``'s total seconds, in a fresh process (as a user runs it: this process has
    compiled networks already, which would make the run it is compared with cheaper)."""
    import re

    argv = [sys.executable, "-m", "atelier", "video", str(clip), str(clip.with_name("dry.mp4")), "--model", model,
            "--dry-run", *[a for k, val in v.items() for a in (f"--{k.replace('_', '-')}", str(val))]]
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    m = re.search(r"and (\d+) s for the whole job", out)
    return float(m.group(1)) if m else None


def throughput_variants(args, size) -> list[dict]:
    """fp32 (the target's precision) full size and at each work size; bf16 rows where the CPU has bf16."""
    import torch

    from atelier.devices import resolve_precision

    bf16 = resolve_precision("auto", torch.device("cpu")) == torch.bfloat16  # the CPU has bf16 dot products
    precisions = ["fp32"] + (["bf16"] if bf16 else [])
    out = []
    for p in precisions:
        sizes = ([0] if size[1] <= 720 and p == "fp32" else []) + list(args.work_sizes)
        out += [{"precision": p, "compile": "on", "work_size": ws} for ws in sizes]
    return out


def transition(args) -> list[dict]:
    """A style transition along vtest (60 frames, 384 px, 25 frames/s): keyframes at frame 10 (starry_night)
    and frame 40 (the_scream), for adain (feature statistics) and johnson (output blending of the two bundled
    models). Style distance (style_swd) to each painting every 5th frame, and the warping error over the
    transition's frames against the same frames stylised with one style. Writes the strip
    docs/video_transition.jpg (adain: frames 0, 15, 25, 35, 50)."""
    import atelier
    from atelier.metrics import evaluate, warping_error

    second = SHARED / "styles" / "the_scream.jpg"
    t0, t1 = 10 / 25, 40 / 25
    runs = {"adain": ({"method": "adain", "size": args.size}, [(t0, STYLE), (t1, second)], STYLE),
            "johnson": ({"size": args.size}, [(t0, "starry_night"), (t1, "the_scream")], None)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i, f in enumerate(frames_of(CLIPS["vtest"], 60)):
            os.symlink(f, src / f"frame_{i:04d}{f.suffix}")
        ins = sorted(src.iterdir())
        for name, (options, keys, single) in runs.items():
            out = Path(tmp) / f"keyed-{name}"
            res = atelier.stylize_video(src, out, style_at=keys, fps=25, precision="fp32", **options)
            outs = sorted(res.output.glob("frame_*.png"))
            one = atelier.stylize_video(src, Path(tmp) / f"one-{name}", single, fps=25, precision="fp32",
                                        **({**options, "model": "starry_night"} if single is None else options))
            ones = sorted(one.output.glob("frame_*.png"))
            sample = list(range(0, len(outs), 5))
            d1 = [evaluate(outs[i], style=STYLE)["style_swd"] for i in sample]
            d2 = [evaluate(outs[i], style=second)["style_swd"] for i in sample]
            span = slice(10, 41)
            row = {"method": name, "frames": len(outs), "sample": sample, "swd_to_first": d1, "swd_to_second": d2,
                   "warping_error_transition": warping_error(outs[span], ins[span]),
                   "warping_error_one_style": warping_error(ones[span], ins[span])}
            inside = [k for k, i in enumerate(sample) if 10 <= i <= 40]
            row["first_rises"] = all(b >= a for a, b in zip([d1[k] for k in inside], [d1[k] for k in inside[1:]]))
            row["second_falls"] = all(b <= a for a, b in zip([d2[k] for k in inside], [d2[k] for k in inside[1:]]))
            rows.append(row)
            print(f"transition {name}: {row}", file=sys.stderr, flush=True)
            if name == "adain":
                write_strip([outs[i] for i in (0, 15, 25, 35, 50)], HERE.parent / "docs" / "video_transition.jpg")
    return rows


def write_strip(paths: list[Path], out: Path, height: int = 200) -> None:
    from PIL import Image

    ims = [Image.open(p).convert("RGB") for p in paths]
    ims = [im.resize((round(im.width * height / im.height), height), Image.LANCZOS) for im in ims]
    strip = Image.new("RGB", (sum(im.width for im in ims) + 4 * (len(ims) - 1), height), "white")
    x = 0
    for im in ims:
        strip.paste(im, (x, 0))
        x += im.width + 4
    strip.save(out, quality=88)


def work_size_quality(args) -> list[dict]:
    """Style distance and warping error of --work-size against the full-size pipeline, same clip and model:
    sintel (its 409x174 frames output at 1280x545) and vtest at 1280x720 (frame folders, temporal weight 1)."""
    import cv2

    import atelier
    from atelier.metrics import evaluate, warping_error

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vt = Path(tmp) / "vtest720"
        vt.mkdir()
        for i, f in enumerate(frames_of(CLIPS["vtest"], args.quality_frames)):
            img = cv2.resize(cv2.imread(str(f)), (1280, 720), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(vt / f"frame_{i:04d}.png"), img)
        clips = {"sintel": CLIPS["sintel"], "vtest720": vt}
        for clip, folder in clips.items():
            src = Path(tmp) / f"in-{clip}"
            src.mkdir()
            for i, f in enumerate(frames_of(folder, args.quality_frames)):
                os.symlink(f, src / f"frame_{i:04d}{f.suffix}")
            ins = sorted(src.iterdir())
            base = None
            for ws in [0, *args.work_sizes]:
                out = Path(tmp) / f"out-{clip}-{ws}"
                t0 = time.perf_counter()
                # size 1280: sintel's 409x174 frames are brought up to 1280x545 (the full-size pipeline's work)
                res = atelier.stylize_video(src, out, model=str(args.model), work_size=ws, precision="fp32",
                                            size=1280)
                seconds = time.perf_counter() - t0
                outs = sorted(res.output.glob("frame_*.png"))
                sample = range(0, len(outs), 10)
                row = {"clip": clip, "work_size": ws, "frames": len(outs), "size": res.info["video"]["size"],
                       "warping_error": warping_error(outs, ins), "seconds": round(seconds, 1),
                       "style_swd": float(np.mean([evaluate(outs[i], style=STYLE)["style_swd"] for i in sample])),
                       "content": float(np.mean([evaluate(outs[i], content=ins[i])["content"] for i in sample]))}
                base = base or row
                for key in ("warping_error", "style_swd", "content"):
                    row[f"{key}_change"] = row[key] / base[key] - 1
                rows.append(row)
                print(f"work size {clip} {ws}: {row}", file=sys.stderr, flush=True)
    return rows


def parts(clip: Path, model: str, work_sizes=()) -> dict:
    """Each stage of one 1280x720 frame, timed on its own (median of 5, after a warm-up); the network also at
    each work size, with the detail upsampling to 1280x720."""
    import torch

    from atelier import find_model
    from atelier.methods.johnson.method import load_network
    from atelier.video.blend import BLEND_SCALE, blend
    from atelier.video.flow import FlowEstimator, reliability_array, remap
    from atelier.video.io import Mp4Writer, open_video, write_frame

    frames = list(open_video(clip).frames(0, 8))
    a, b = frames[0], frames[1]

    def timed(fn, n=5):
        fn()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return round(1000 * float(np.median(ts)), 1)

    out = {}
    t0 = time.perf_counter()
    _ = list(open_video(clip).frames(0, 8))
    out["decode"] = round(1000 * (time.perf_counter() - t0) / 8, 1)
    side = default_flow_size()
    full, auto = FlowEstimator(preset="fast"), FlowEstimator(preset="fast", max_side=side)
    out["flow_pair_fast"] = timed(lambda: (full(b, a), full(a, b)))
    bw, fw = full(b, a), full(a, b)
    out["reliability"] = timed(lambda: reliability_array(bw, fw))
    # What the pipeline does by default: both flows and the check at <= 640 px, resized back.
    out[f"flow_and_reliability_at_{side}"] = timed(lambda: auto.backward_reliable(b, a))
    prev = a.astype(np.float32) / 255
    out["warp_bicubic"] = timed(lambda: remap(prev, bw, cubic=True))
    c = reliability_array(bw, fw)
    warped = remap(prev, bw, cubic=True)
    new = b.astype(np.float32) / 255
    out["blend"] = timed(lambda: blend(new.copy(), warped, c, BLEND_SCALE))
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        net, _, compiled = load_network(find_model(model), torch.device("cpu"), dtype)
        x = torch.from_numpy(a).permute(2, 0, 1)[None].float().div(255).contiguous()
        with torch.inference_mode():
            out[f"network_{precision}"] = timed(lambda net=net, x=x, dtype=dtype: net(x.to(dtype)))
            out[f"network_{precision}_compiled"] = timed(lambda c=compiled, x=x, dtype=dtype: c(x.to(dtype), "on"))
    from atelier.ops.upsampling import detail_upsample

    for ws in work_sizes:
        import cv2

        h, w = (round(720 * ws / 1280), ws)
        low = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
        net, _, compiled = load_network(find_model(model), torch.device("cpu"), torch.float32)
        x = torch.from_numpy(low).permute(2, 0, 1)[None].float().div(255).contiguous()
        with torch.inference_mode():
            out[f"network_fp32_at_{ws}"] = timed(lambda net=net, x=x: net(x))
            out[f"network_fp32_compiled_at_{ws}"] = timed(lambda c=compiled, x=x: c(x, "on"))
        lowf, fullf = low.astype(np.float32) / 255, a.astype(np.float32) / 255
        out[f"detail_upsample_{ws}_to_720"] = timed(lambda lowf=lowf, fullf=fullf: detail_upsample(lowf, lowf, fullf))
        out[f"resize_to_{ws}"] = timed(lambda w=w, h=h: cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA))
    with tempfile.TemporaryDirectory() as tmp:
        from atelier.video.io import write_raw_frame

        out["raw_write"] = timed(lambda: write_raw_frame(Path(tmp) / "f.npy", a))
        out["png_write"] = timed(lambda: write_frame(Path(tmp) / "f.png", a))
        w = Mp4Writer(Path(tmp) / "x.mp4", 1280, 720, 30)
        t0 = time.perf_counter()
        for _ in range(4):
            for f in frames:
                w.write(f)
        w.close()
        out["h264_encode"] = round(1000 * (time.perf_counter() - t0) / (4 * len(frames)), 1)
    return out


PARTS = ("stability", "work_size", "transition", "throughput")


def cpu_model() -> str:
    """``lscpu``'s model name (the machine changes between sessions: every figure carries it)."""
    out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def machine_busy() -> str:
    """Training processes that are running (stopped ones, state T, do not compete for the CPU)."""
    try:
        ps = subprocess.run(["ps", "-eo", "stat=,args="], check=False, capture_output=True, text=True).stdout
    except OSError:
        return ""
    return "; ".join(line.split(None, 1)[1] for line in ps.splitlines()
                     if "atelier train" in line and not line.lstrip().startswith("T"))


def write_report(result: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "video.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["meta"]
    lines = [(f"Measured {m['date']} on {m['cpus']} CPU cores ({m.get('cpu_model', '?')}), torch {m['torch']}; "
             f"{'machine busy: ' + m['busy'] if m['busy'] else 'machine otherwise idle'}."), ""]
    for part in PARTS:
        if m.get(f"{part}_measured"):
            lines[0:0] = [(f"The {part} figures are kept from the run of {m[f'{part}_measured']}"
                          f" ({m.get(f'{part}_cpu') or 'CPU not recorded'})."), ""]
    if result.get("stability"):
        lines += ["### Temporal stability: per-frame vs temporal (same method and settings)", "",
                  ("| clip | method | frames | size | warping error, per frame | warping error, temporal | reduction "
                  "| style_gram change | style_swd change |"), "|---|---|---:|---|---:|---:|---:|---:|---:|"]
        for r in result["stability"]:
            pf, tp = r["per_frame"], r["temporal"]
            size = "x".join(map(str, pf.get("size", ["?"])))
            swd = f"{100 * r['style_swd_change']:+.1f} %" if "style_swd_change" in r else "not measured"
            lines.append(f"| {r['clip']} | {r['method']} | {r['frames']} | {size} | "
                         f"{pf['warping_error']:.5f} | {tp['warping_error']:.5f} | "
                         f"{100 * r['warping_error_reduction']:.0f} % | {100 * r['style_gram_change']:+.1f} % | "
                         f"{swd} |")
        lines.append("")
    if result.get("work_size"):
        lines += ["### --work-size against the full-size pipeline (johnson, fp32, temporal weight 1)", "",
                  ("| clip | work size | frames | output | warping error | change | style_swd | change | content "
                   "| change | seconds |"), "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in result["work_size"]:
            lines.append(f"| {r['clip']} | {r['work_size'] or 'full'} | {r['frames']} | {'x'.join(map(str, r['size']))} | "
                         f"{r['warping_error']:.5f} | {100 * r['warping_error_change']:+.1f} % | {r['style_swd']:.4f} | "
                         f"{100 * r['style_swd_change']:+.1f} % | {r['content']:.3f} | {100 * r['content_change']:+.1f} % | "
                         f"{r['seconds']} |")
        lines.append("")
    if result.get("transition"):
        lines += ["### A style transition (vtest, 384 px; starry_night until frame 10, the_scream from frame 40)", "",
                  "| method | frame | " + " | ".join(str(i) for i in result["transition"][0]["sample"]) + " |",
                  "|---|---|" + "---:|" * len(result["transition"][0]["sample"])]
        for r in result["transition"]:
            lines.append(f"| {r['method']} | style_swd to starry_night | " + " | ".join(f"{v:.3f}" for v in r["swd_to_first"]) + " |")
            lines.append(f"| {r['method']} | style_swd to the_scream | " + " | ".join(f"{v:.3f}" for v in r["swd_to_second"]) + " |")
        lines += ["", ("| method | distance to the first rises over frames 10-40 | to the second falls | warping error, "
                  "frames 10-40: transition | one style |"), "|---|---|---|---:|---:|"]
        for r in result["transition"]:
            lines.append(f"| {r['method']} | {'yes' if r['first_rises'] else 'no'} | {'yes' if r['second_falls'] else 'no'} | "
                         f"{r['warping_error_transition']:.5f} | {r['warping_error_one_style']:.5f} |")
        lines.append("")
    if result.get("throughput"):
        lines += ["### Throughput end to end (decode, stylise, encode, audio), compact johnson model", "",
                  ("| size | precision | work size | frames | median frames/s | frame loop (frames/s) | whole call "
                   "incl. start-up and compile (frames/s) | --dry-run's total against the run | audio |"),
                  "|---|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in result["throughput"]:
            if "parts_ms" in r:
                continue
            o = r["options"]
            med = f"{r['median_frames_per_second']:.2f}" if r.get("median_frames_per_second") else "-"
            dry = (f"{r['dry_run_seconds']:.0f} s vs {r['total_seconds']:.0f} s ({100 * r['dry_run_error']:+.0f} %)"
                   if r.get("dry_run_seconds") else "-")  # rows of an earlier version have no dry run
            lines.append(f"| {'x'.join(map(str, r.get('size', [1280, 720])))} | {o['precision']} (compile "
                         f"{o.get('compile', 'off')}) | {o.get('work_size') or 'full'} | {r['frames']} | {med} | "
                         f"{r['loop_frames_per_second']:.2f} | {r['end_to_end_frames_per_second']:.2f} | {dry} | "
                         f"{r['audio']} |")
        parts_ms = next((r["parts_ms"] for r in result["throughput"] if "parts_ms" in r), None)
        if parts_ms:
            lines += ["", "Parts of one 1280x720 frame, each timed alone (ms): " +
                      ", ".join(f"{k} {v}" for k, v in parts_ms.items()) + "."]
    (out_dir / "video.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="Trained johnson model (name or file) for stability.")
    p.add_argument("--compact-model", default=None, help="Compact johnson model for throughput "
                   "(default: --model).")
    p.add_argument("--arbitrary", nargs="*", default=["adain", "sanet"], choices=["adain", "sanet"],
                   help="Arbitrary-style methods (bundled decoders) in the stability runs.")
    p.add_argument("--size", type=int, default=384, help="Long side of the johnson runs.")
    p.add_argument("--frames", type=int, default=None, help="Frames per clip for johnson (default: all).")
    p.add_argument("--gatys-size", type=int, default=128)
    p.add_argument("--gatys-iterations", type=int, default=30)
    p.add_argument("--gatys-frames", type=int, default=8)
    p.add_argument("--no-gatys", action="store_true")
    p.add_argument("--weight", type=float, default=1.0, help="The temporal weight compared with 0.")
    p.add_argument("--throughput-frames", type=int, default=90)
    p.add_argument("--work-sizes", type=int, nargs="*", default=[640, 480, 384],
                   help="--work-size values compared with the full-size pipeline.")
    p.add_argument("--quality-frames", type=int, default=40, help="Frames per clip of the work-size quality rows.")
    p.add_argument("--only", choices=PARTS)
    p.add_argument("--rows", nargs="*", metavar="CLIP/METHOD", help="Stability: run only these rows (e.g. "
                   "tree/gatys) and keep the others from the previous results.")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    args.compact_model = args.compact_model or args.model

    import torch

    result = {"meta": {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                       "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "python": platform.python_version(), "busy": machine_busy(), "cpu_model": cpu_model(),
                       "args": {k: str(v) for k, v in vars(args).items()}}}
    previous = args.out / "video.json"
    if args.only and previous.exists():  # keep the other parts' figures (and say when they were measured)
        old = json.loads(previous.read_text())
        for kept in (k for k in PARTS if k != args.only and old.get(k)):
            result[kept] = old[kept]
            result["meta"][f"{kept}_measured"] = old.get("meta", {}).get(f"{kept}_measured") or old["meta"]["date"]
            result["meta"][f"{kept}_cpu"] = old.get("meta", {}).get(f"{kept}_cpu") or old["meta"].get("cpu_model")
    if args.only in (None, "stability"):
        result["stability"] = stability(args)
        if args.rows and previous.exists():  # the other rows as measured before
            new = {(r["clip"], r["method"]) for r in result["stability"]}
            old = [r for r in json.loads(previous.read_text()).get("stability", [])
                   if (r["clip"], r["method"]) not in new]
            order = ["johnson", "adain", "sanet", "gatys"]
            result["stability"] = sorted(old + result["stability"], key=lambda r: (
                order.index(r["method"]) if r["method"] in order else len(order), r["method"],
                list(CLIPS).index(r["clip"])))
        write_report(result, args.out)
    if args.only in (None, "work_size"):
        result["work_size"] = work_size_quality(args)
        write_report(result, args.out)
    if args.only in (None, "transition"):
        result["transition"] = transition(args)
        write_report(result, args.out)
    if args.only in (None, "throughput"):
        result["throughput"] = throughput(args)
    result["meta"]["busy_after"] = machine_busy()
    write_report(result, args.out)
    print((args.out / "video.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
