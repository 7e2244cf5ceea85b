"""The README's main job against its time budget: Gatys schedules at 512 px in fp32, time and quality.

    python benchmarks/main_job.py [--pairs 5] [--size 512] [--threads 2]
                                  [--schedule NAME:option=value,option=value ...]

Each schedule (gatys options; ``reference`` is the schedule of rounds 1-2: 100 iterations at the output
size after 50 at each coarser scale from 128 px) runs on the embedded example and the first pairs of
``PAIRS`` (the photos and paintings of ``benchmarks/quality.py``), in fp32, in this process, one after the
other. Reported per schedule and pair: wall time of ``atelier.run`` (VGG already loaded; the style and
content targets included), the final style distance (sliced Wasserstein) and content distance of
``atelier.evaluate`` at the output size, and the ratios to the reference schedule of the same pair: the
README's target is time <= 60 s with both distances no worse (ratio <= 1). Results: ``main_job.json`` and
``main_job.md`` in ``--out``, with the CPU's model name.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model

SHARED = HERE.parent.parent / "shared" / "data"
PAIRS = [  # after the embedded example: quality.py's three pairs, then two more unseen by any training
    ("registry/photos/tuxpaint-data__lighthouse.jpg", "styles/the_scream.jpg"),
    ("registry/photos/scikit-image__chelsea.jpg", "styles/great_wave.jpg"),
    ("registry/photos/opencv-doc__building.jpg", "styles/composition_vii.jpg"),
    ("registry/photos/matplotlib__grace_hopper.jpg", "styles/woman_with_hat.jpg"),
]
# The rounds 1-2 default, every option that changed since spelled out.
REFERENCE = {"iterations": 100, "coarse_iterations": 50, "min_size": 128, "tolerance": 0.005, "coarse_growth": 1.0,
             "content_weight": 1.0}


def parse_schedule(text: str) -> tuple[str, dict]:
    """'fast:iterations=20,coarse_iterations=50' -> ('fast', {'iterations': 20, ...})."""
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        options[key] = json.loads(value) if value[:1] in "0123456789-[{\"" or value in ("true", "false") else value
    return name, options


def run_one(content, style, options: dict, size: int) -> dict:
    import atelier

    t = time.perf_counter()
    result = atelier.run(content, style, method="gatys", size=size, precision="fp32", device="cpu", **options)
    seconds = time.perf_counter() - t
    m = atelier.evaluate(result.image, content=content, style=style, size=size)
    return {"seconds": round(seconds, 2), "style_swd": round(m["style_swd"], 4), "content": round(m["content"], 4),
            "iterations": result.info.get("iterations")}


def to_markdown(report: dict) -> str:
    title = (f"# README main job: Gatys schedules at {report['size']} px, fp32 ({report['cpu']}, "
             f"{report['threads']} threads)")
    lines = [title, "",
             "Ratios are to the reference schedule on the same pair, measured in the same process.", "",
             "| schedule | options | mean s | max s | SWD ratio (mean, max) | content ratio (mean, max) |",
             "|---|---|---:|---:|---|---|"]
    for name, rows in report["schedules"].items():
        sec = [r["seconds"] for r in rows]
        swd = [r["swd_ratio"] for r in rows]
        con = [r["content_ratio"] for r in rows]
        opts = ", ".join(f"{k}={v}" for k, v in report["options"][name].items())
        lines.append(f"| {name} | {opts} | {statistics.fmean(sec):.1f} | {max(sec):.1f} | "
                     f"{statistics.fmean(swd):.3f}, {max(swd):.3f} | {statistics.fmean(con):.3f}, {max(con):.3f} |")
    lines += ["", "| schedule | pair | s | style SWD | content | iterations |", "|---|---|---:|---:|---:|---:|"]
    for name, rows in report["schedules"].items():
        for r in rows:
            lines.append(f"| {name} | {r['pair']} | {r['seconds']} | {r['style_swd']} | {r['content']} | "
                         f"{r['iterations']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import torch

    import atelier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=5, help="The embedded example and the first N-1 of PAIRS.")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--schedule", action="append", default=[], help="NAME:option=value,... (repeatable).")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--reuse-reference", type=Path, default=None, metavar="JSON",
                   help="Take the reference rows from an earlier main_job.json of this session's machine "
                        "(deterministic results; its times were measured the same way).")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    schedules = {"reference": REFERENCE, **dict(parse_schedule(s) for s in args.schedule)}
    pairs = [atelier.default_inputs()] + [(SHARED / c, SHARED / s) for c, s in PAIRS][: args.pairs - 1]
    atelier.run(pairs[0][0], pairs[0][1], method="gatys", size=64, iterations=1, coarse_iterations=0,
                precision="fp32", device="cpu")  # VGG loaded and dequantised before any timing
    report = {"cpu": cpu_model(), "threads": args.threads, "size": args.size, "options": schedules,
              "schedules": {}}
    if args.reuse_reference:
        earlier = json.loads(args.reuse_reference.read_text())
        report["schedules"]["reference"] = earlier["schedules"]["reference"][: len(pairs)]
    for name, options in schedules.items():
        if name in report["schedules"]:
            continue
        for content, style in pairs:
            r = run_one(content, style, options, args.size)
            r["pair"] = f"{Path(content).stem} x {Path(style).stem}"
            report["schedules"].setdefault(name, []).append(r)
            print(name, r, flush=True)
    for name, rows in report["schedules"].items():
        for r, ref in zip(rows, report["schedules"]["reference"]):
            r["swd_ratio"] = round(r["style_swd"] / ref["style_swd"], 3)
            r["content_ratio"] = round(r["content"] / ref["content"], 3)
            r["time_ratio"] = round(r["seconds"] / ref["seconds"], 3)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "main_job.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "main_job.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
