"""Video: temporal stability against per-frame stylisation, and end-to-end throughput at 1280x720.

    python benchmarks/video.py [--model NAME|PATH] [--size 384] [--arbitrary adain sanet] [--gatys-size 128]
                               [--gatys-frames 8] [--no-gatys] [--only stability|throughput]

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

Throughput: a 1280x720 H.264 clip with an AAC track (vtest's frames resized, 30 fps, made in a temporary
folder) through ``atelier.stylize_video`` with the compact johnson model, end to end (decode, flow,
network, blend, PNG resume frames, H.264 encode, audio copy). Reported: frames per second of the frame
loop (as the CLI shows) and of the whole call including start-up, plus the parts timed on their own.
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


def make_720p_clip(path: Path, n: int, fps: int = 30) -> Path:
    import av
    import cv2

    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = 1280, 720, "yuv420p"
    vs.codec_context.options = {"crf": "20", "preset": "veryfast"}
    a = out.add_stream("aac", rate=48000)
    a.layout = "stereo"
    files = frames_of(CLIPS["vtest"], None)
    for i in range(n):
        bgr = cv2.imread(str(files[i % len(files)]))
        rgb = cv2.resize(bgr, (1280, 720), interpolation=cv2.INTER_CUBIC)[..., ::-1]
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


def throughput(args) -> list[dict]:
    import atelier

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_720p_clip(Path(tmp) / "clip720.mp4", args.throughput_frames)
        # compile 'on': from the first frame (its compilation counted); 'off': eager throughout. The default,
        # 'auto', compiles once ~10 s went into eager frames (~30 frames at 720p): 'on' for a long clip.
        variants = [{"precision": p, "compile": c} for p in ("fp32", "bf16") for c in ("off", "on")]
        for v in variants:
            out = Path(tmp) / f"out-{v['precision']}-{v['compile']}.mp4"
            t0 = time.perf_counter()
            res = atelier.stylize_video(clip, out, model=str(args.compact_model), **v)
            total = time.perf_counter() - t0
            rows.append({"options": v, "frames": res.frames, "size": res.info["video"]["size"],
                         "audio": res.info["video"]["audio"],
                         "loop_frames_per_second": res.info["timings"]["frames_per_second"],
                         "end_to_end_frames_per_second": res.frames / total, "total_seconds": round(total, 2)})
            print(f"throughput {v}: {rows[-1]}", file=sys.stderr, flush=True)
        rows.append({"parts_ms": parts(clip, args.compact_model)})
    return rows


def parts(clip: Path, model: str) -> dict:
    """Each stage of one 1280x720 frame, timed on its own (median of 5, after a warm-up)."""
    import torch

    from atelier import find_model
    from atelier.methods.johnson.method import load_network
    from atelier.video.flow import FlowEstimator, reliability_array, remap
    from atelier.video.io import Mp4Writer, open_video, write_frame
    from atelier.video.pipeline import BLEND_SCALE, blend

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
    with tempfile.TemporaryDirectory() as tmp:
        out["png_write"] = timed(lambda: write_frame(Path(tmp) / "f.png", a))
        w = Mp4Writer(Path(tmp) / "x.mp4", 1280, 720, 30)
        t0 = time.perf_counter()
        for _ in range(4):
            for f in frames:
                w.write(f)
        w.close()
        out["h264_encode"] = round(1000 * (time.perf_counter() - t0) / (4 * len(frames)), 1)
    return out


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
    lines = [(f"Measured {m['date']} on {m['cpus']} CPU cores, torch {m['torch']}; "
             f"{'machine busy: ' + m['busy'] if m['busy'] else 'machine otherwise idle'}."), ""]
    for part in ("stability", "throughput"):
        if m.get(f"{part}_measured"):
            lines[0:0] = [f"The {part} figures are kept from the run of {m[f'{part}_measured']}.", ""]
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
    if result.get("throughput"):
        lines += ["### Throughput at 1280x720, compact johnson model, end to end", "",
                  ("| precision | compile | frames | frame loop (frames/s) | whole call incl. start-up (frames/s) "
                   "| audio |"), "|---|---|---:|---:|---:|---|"]
        for r in result["throughput"]:
            if "parts_ms" in r:
                continue
            lines.append(f"| {r['options']['precision']} | {r['options'].get('compile', 'off')} | {r['frames']} | {r['loop_frames_per_second']:.2f} | "
                         f"{r['end_to_end_frames_per_second']:.2f} | {r['audio']} |")
        parts_ms = next((r["parts_ms"] for r in result["throughput"] if "parts_ms" in r), None)
        if parts_ms:
            lines += ["", "Parts of one frame, each timed alone (ms): " +
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
    p.add_argument("--throughput-frames", type=int, default=60)
    p.add_argument("--only", choices=("stability", "throughput"))
    p.add_argument("--rows", nargs="*", metavar="CLIP/METHOD", help="Stability: run only these rows (e.g. "
                   "tree/gatys) and keep the others from the previous results.")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    args.compact_model = args.compact_model or args.model

    import torch

    result = {"meta": {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                       "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "python": platform.python_version(), "busy": machine_busy(),
                       "args": {k: str(v) for k, v in vars(args).items()}}}
    previous = args.out / "video.json"
    if args.only and previous.exists():  # keep the other part's figures (and say when they were measured)
        kept = "throughput" if args.only == "stability" else "stability"
        old = json.loads(previous.read_text())
        if old.get(kept):
            result[kept] = old[kept]
            result["meta"][f"{kept}_measured"] = old.get("meta", {}).get(f"{kept}_measured") or old["meta"]["date"]
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
    if args.only in (None, "throughput"):
        result["throughput"] = throughput(args)
    result["meta"]["busy_after"] = machine_busy()
    write_report(result, args.out)
    print((args.out / "video.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
