"""WCT between photos, with and without the photorealistic smoothing (Li et al. 2018 §3.2, ``--smooth``).

    python benchmarks/photoreal.py [--size 512] [--radius 35]

Four registry photo pairs (photo, a second photo as the style); for each: ``atelier.run(..., method="wct")``
with the bundled decoders, plain and with ``smooth=RADIUS``, judged by ``atelier.evaluate`` at the output
size: style distance to the style photo (sliced Wasserstein), content distance, and SSIM of the luminance
to the photo (structure kept: what "photorealistic" asks). Seconds per image, plain and smoothed, median of
3 runs in the same process. Results: benchmarks/results/photoreal.md and a sheet docs/photoreal.jpg.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model  # the one lscpu reader of the benchmarks

PHOTOS = HERE.parent.parent / "shared" / "data" / "registry" / "photos"
PAIRS = [
    ("tuxpaint-data__lighthouse.jpg", "lomiri-wallpapers-16.04__sunset_by_Aitzol_Berasategi.jpg"),
    ("opencv-doc__home.jpg", "plasma-workspace-wallpapers__EveningGlow.jpg"),
    ("scikit-learn__china.jpg", "mate-backgrounds__Storm.jpg"),
    ("scikit-image__chelsea.jpg", "plasma-workspace-wallpapers__FallenLeaf.jpg"),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--radius", type=int, default=35)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=HERE / "results" / "photoreal.md")
    p.add_argument("--sheet", type=Path, default=HERE.parent / "docs" / "photoreal.jpg")
    args = p.parse_args()
    import torch

    import atelier
    from atelier.comparison import write_contact_sheet

    rows, sheet, secs = [], [], {"plain": [], "smooth": []}
    for content, style in PAIRS:
        c = atelier.load_image(PHOTOS / content, long_side=args.size)
        s = atelier.load_image(PHOTOS / style, long_side=args.size)
        cells = []
        for name, extra in (("plain", {}), ("smooth", {"smooth": args.radius})):
            times, out = [], None
            for _ in range(args.repeats):
                t = time.perf_counter()
                out = atelier.run(c, s, method="wct", size=args.size, precision="fp32", device="cpu", **extra).image
                times.append(time.perf_counter() - t)
            secs[name].append(statistics.median(times))
            m = atelier.evaluate(out, content=c, style=s, size=args.size)
            rows.append({"pair": f"{content.split('__')[1][:18]} x {style.split('__')[1][:18]}", "run": name,
                         "style_swd": m["style_swd"], "content": m["content"], "ssim": m["ssim"]})
            cells.append((out, f"wct{' --smooth ' + str(args.radius) if extra else ''}"))
        sheet.append((c, s, cells))
    lines = [f"# WCT between photos, plain and with --smooth {args.radius} ({args.size} px, fp32)", "",
             (f"`python benchmarks/photoreal.py {' '.join(sys.argv[1:])}`; CPU: {cpu_model()}, "
             f"{torch.get_num_threads()} threads; bundled WCT decoders, levels 3 2 1."), "",
             "| pair | run | style SWD | content | SSIM to the photo |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['pair']} | {r['run']} | {r['style_swd']:.4f} | {r['content']:.3f} | {r['ssim']:.3f} |"
              for r in rows]

    def mean(run, key):
        return statistics.fmean(r[key] for r in rows if r["run"] == run)

    lines += ["", "| run | style SWD | content | SSIM | s per image (median of medians) |", "|---|---:|---:|---:|---:|"]
    for run in ("plain", "smooth"):
        lines.append(f"| {run} | {mean(run, 'style_swd'):.4f} | {mean(run, 'content'):.3f} | "
                     f"{mean(run, 'ssim'):.3f} | {statistics.median(secs[run]):.2f} |")
    ratio = {k: mean("smooth", k) / mean("plain", k) for k in ("style_swd", "content", "ssim")}
    lines += ["", (f"smooth / plain: style SWD {ratio['style_swd']:.2f}x, content {ratio['content']:.2f}x, SSIM "
              f"{ratio['ssim']:.2f}x, time {statistics.median(secs['smooth']) / statistics.median(secs['plain']):.2f}x.")]
    args.out.write_text("\n".join(lines) + "\n")
    write_contact_sheet(sheet, args.sheet, tile=220, overwrite=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
