"""The MRF style term (Li & Wand 2016, ``--style-loss mrf``) against the Gram term: cost and quality.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/mrf.py --parts speed      # ~3 min under load
    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/mrf.py --parts quality    # ~5 min under load

speed: seconds per evaluation of the perceptual loss and its gradient (one L-BFGS step's work, fp32, the
real VGG-19) at 256 and 512 px, for the Gram loss, the MRF loss with the painting's patches at stride 2 (the
default of --mrf-stride) and at stride 1, interleaved in one process (warm-up first, median of repeats), and
the ratio to the Gram loss measured in the same repeat. quality: ``atelier.run`` with --style-loss gram and
mrf on photo x painting pairs of ../shared/data at 256 px, judged by ``atelier.evaluate`` (style distances
to the painting, content distance and SSIM to the photo), and docs/mrf.jpg (photo, gram, mrf) from the
redistributable registry images. Results: benchmarks/results/mrf.md (the tables are printed; paste them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model

SHARED = HERE.parent.parent / "shared" / "data"
PHOTOS, STYLES, REGISTRY = SHARED / "registry" / "photos", SHARED / "styles", SHARED / "registry"
KISS, STARRY = REGISTRY / "the_kiss__visp-images-data.png", REGISTRY / "starry_night__opencv-doc.jpg"
# (photo, painting): the first two are the contact sheet's (registry images only).
PAIRS = [
    (PHOTOS / "opencv-doc__building.jpg", STARRY),
    (PHOTOS / "lomiri-wallpapers-16.04__friends_by_Aitzol_Berasategi.jpg", KISS),
    (PHOTOS / "mate-backgrounds__FreshFlower.jpg", STYLES / "great_wave.jpg"),
]
VARIANTS = {"gram": {"style_loss": "gram"}, "mrf s2": {"style_loss": "mrf", "mrf_stride": 2},
            "mrf s1": {"style_loss": "mrf", "mrf_stride": 1}}


def speed(sizes, repeats: int) -> list[str]:

    from atelier import io
    from atelier.features import get_vgg19
    from atelier.losses import PerceptualLoss
    from atelier.methods.gatys.method import BASE_STYLE_WEIGHT, style_size_for

    vgg = get_vgg19(device="cpu")
    photo, painting = PAIRS[0]
    rows = ["| size | style loss | s / step (median) | ratio to gram (same repeat) |", "|---|---|---|---|"]
    for size in sizes:
        c = io.resize_long_side(io.load_image(photo), size)
        s = io.load_image(painting)
        s = io.resize(s, style_size_for(s, tuple(c.shape[-2:]), 1.0, 24))
        losses = {}
        for name, kw in VARIANTS.items():
            loss = PerceptualLoss(vgg, style_weight=BASE_STYLE_WEIGHT, tv_weight=1e-3, **kw)
            loss.set_content(c)
            loss.set_styles([loss.style_grams(s)], [1.0])
            losses[name] = loss
        x = c.clone().requires_grad_(True)

        def step(loss, x=x):
            t = time.perf_counter()
            x.grad = None
            loss(x)["total"].backward()
            return time.perf_counter() - t

        for loss in losses.values():  # warm-up
            step(loss)
        times = {n: [] for n in losses}
        ratios = {n: [] for n in losses}
        for _ in range(repeats):
            now = {n: step(loss) for n, loss in losses.items()}
            for n in losses:
                times[n].append(now[n])
                ratios[n].append(now[n] / now["gram"])
        for n in losses:
            rows.append(f"| {max(c.shape[-2:])} | {n} | {statistics.median(times[n]):.2f} | "
                        f"{statistics.median(ratios[n]):.2f} |")
            print(rows[-1], flush=True)
    return rows


def quality(pairs, size: int, iterations: int, coarse: int, sheet: Path | None) -> list[str]:
    import atelier
    from atelier.comparison import write_contact_sheet

    rows = ["| photo | painting | style loss | style_gram | style_swd | content | ssim | seconds |",
            "|---|---|---|---|---|---|---|---|"]
    sheet_rows = []
    for photo, painting in pairs:
        cells = []
        for name in ("gram", "mrf s2"):
            t = time.perf_counter()
            res = atelier.run(photo, painting, method="gatys", size=size, iterations=iterations,
                              coarse_iterations=coarse, device="cpu", **VARIANTS[name])
            sec = time.perf_counter() - t
            m = atelier.evaluate(res.image, content=photo, style=painting, size=size)
            rows.append(f"| {photo.name[:28]} | {painting.name[:24]} | {name} | {m['style_gram']:.3f} | "
                        f"{m['style_swd']:.3f} | {m['content']:.3f} | {m['ssim']:.3f} | {sec:.0f} |")
            print(rows[-1], flush=True)
            cells.append((res.image, f"{name.split()[0]} (style {m['style_gram']:.2f}, content {m['content']:.2f})"))
        if painting.parent == REGISTRY:
            sheet_rows.append((atelier.load_image(photo), atelier.load_image(painting), cells))
    if sheet and sheet_rows:
        write_contact_sheet(sheet_rows, sheet, tile=200, overwrite=True)
        print(f"wrote {sheet}")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["speed", "quality"], choices=["speed", "quality"])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pairs", type=int, default=3, help="How many of PAIRS the quality part runs.")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--coarse-iterations", type=int, default=30)
    p.add_argument("--sheet", type=Path, default=HERE.parent / "docs" / "mrf.jpg")
    args = p.parse_args(argv)
    import torch

    print(f"CPU: {cpu_model()}; torch threads: {torch.get_num_threads()}")
    if "speed" in args.parts:
        speed(args.sizes, args.repeats)
    if "quality" in args.parts:
        quality(PAIRS[: args.pairs], args.size, args.iterations, args.coarse_iterations, args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
