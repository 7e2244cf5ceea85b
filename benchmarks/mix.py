"""Styles mixed by scale (Gatys et al. 2017 §5): is each layer of the result nearer the painting it was given?

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/mix.py [--size 256] [--iterations 100] [--coarse-iterations 50]

For a few photo x (A, B) pairs from ../shared/data, ``atelier.run(photo, coarse_style=A, fine_style=B)``
(gatys, real VGG-19 weights) and the same with wct (per-level statistics, the bundled decoders, its default
levels 3 2 1: level 3 from A, levels 2 1 from B). Each result is judged per layer by the Gram distance of
``atelier.metrics`` (relative, as the style loss) to A and to B, both resized to the result's area (as
``atelier.evaluate`` does). Acceptance (issue 20): on the coarse layers (relu3_1, relu4_1, relu5_1) the
distance to A is lower than to B, on the fine ones (relu1_1, relu2_1) the other way round. The photo's own
distances are given beside (the start of the optimisation), and the first pair also runs with A and B
swapped, so an ordering that a painting imposes on every layer would show.

Also writes docs/mix.jpg: photo, A, B, the mix, and the mix in the colours of another image (--color-from),
made only from redistributable images (../shared/data/registry; the other paintings are read, not shown).
Results: benchmarks/results/mix.md and mix.json. Timings are wall seconds of each run on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model

SHARED = HERE.parent.parent / "shared" / "data"
PHOTOS, STYLES, REGISTRY = SHARED / "registry" / "photos", SHARED / "styles", SHARED / "registry"
KISS, STARRY = REGISTRY / "the_kiss__visp-images-data.png", REGISTRY / "starry_night__opencv-doc.jpg"
# (photo, coarse painting A, fine painting B); the first pair is the contact sheet's (registry images only).
PAIRS = [
    (PHOTOS / "opencv-doc__building.jpg", KISS, STARRY),
    (PHOTOS / "lomiri-wallpapers-16.04__Bridge_by_Sander_Klootwijk.jpg", STYLES / "composition_vii.jpg",
     STYLES / "the_scream.jpg"),
    (PHOTOS / "mate-backgrounds__FreshFlower.jpg", STYLES / "great_wave.jpg", STYLES / "water_lilies.jpg"),
]
COLOURS = PHOTOS / "mate-backgrounds__YellowFlower.jpg"  # --color-from of the sheet
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
COARSE = ("relu3_1", "relu4_1", "relu5_1")


def per_layer(vgg, image, a, b) -> dict[str, list[float]]:
    """{layer: [Gram distance to A, to B]} of ``image`` (1,3,H,W); the paintings at its area."""
    import math

    from atelier import io
    from atelier.metrics import gram_distance

    h, w = image.shape[-2:]

    def at_area(path):
        s = io.load_image(path)
        f = math.sqrt(h * w / (s.shape[-2] * s.shape[-1]))
        return io.resize(s, (max(16, round(s.shape[-2] * f)), max(16, round(s.shape[-1] * f))))

    fx, fa, fb = vgg(image, LAYERS), vgg(at_area(a), LAYERS), vgg(at_area(b), LAYERS)
    return {k: [round(gram_distance(fx, fa, [k]), 4), round(gram_distance(fx, fb, [k]), 4)] for k in LAYERS}


def holds(d: dict[str, list[float]]) -> bool:
    """The acceptance ordering: nearer A on the coarse layers, nearer B on the fine ones."""
    return all((d[k][0] < d[k][1]) == (k in COARSE) for k in LAYERS)


def main(argv=None) -> int:
    import torch

    import atelier
    from atelier import io
    from atelier.comparison import write_contact_sheet
    from atelier.features import get_vgg19

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--coarse-iterations", type=int, default=50)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--sheet", type=Path, default=HERE.parent / "docs" / "mix.jpg")
    args = p.parse_args(argv)
    vgg = get_vgg19(device="cpu")
    gatys = {"size": args.size, "iterations": args.iterations, "coarse_iterations": args.coarse_iterations}
    runs = [("gatys", photo, a, b) for photo, a, b in PAIRS]
    runs.insert(1, ("gatys", PAIRS[0][0], PAIRS[0][2], PAIRS[0][1]))  # the first pair, roles swapped
    runs += [("wct", photo, a, b) for photo, a, b in PAIRS]
    rows, images = [], {}
    for method, photo, a, b in runs:
        opts = gatys if method == "gatys" else {"size": args.size}
        t = time.perf_counter()
        out = atelier.run(photo, coarse_style=a, fine_style=b, method=method, device="cpu", **opts).image
        seconds = time.perf_counter() - t
        images[(method, photo, a, b)] = out
        start = io.resize(io.load_image(photo), tuple(out.shape[-2:]))
        rows.append({"method": method, "photo": photo.name, "coarse": a.stem, "fine": b.stem,
                     "seconds": round(seconds, 1), "result": per_layer(vgg, out, a, b),
                     "photo_itself": per_layer(vgg, start, a, b)})
        rows[-1]["holds"] = holds(rows[-1]["result"])
        print(json.dumps(rows[-1]), flush=True)

    photo, a, b = PAIRS[0]
    t = time.perf_counter()
    coloured = atelier.run(photo, coarse_style=a, fine_style=b, color_from=COLOURS, device="cpu", **gatys).image
    colour_seconds = time.perf_counter() - t
    sheet = [(io.load_image(photo), None, [
        (io.load_image(a), "A: coarse structure\n(The Kiss)"), (io.load_image(b), "B: fine strokes\n(The Starry Night)"),
        (images[("gatys", photo, a, b)], "coarse A + fine B\n(gatys)"),
        (coloured, "coarse A + fine B,\ncolours of C"),
        (io.load_image(COLOURS), "C: --color-from")])]
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    write_contact_sheet(sheet, args.sheet, tile=200, overwrite=True)
    write_report(rows, args, colour_seconds, torch.get_num_threads())
    return 0


def write_report(rows, args, colour_seconds: float, threads: int) -> None:
    cpu = cpu_model()
    lines = ["# Styles mixed by scale: per-layer Gram distance to the coarse painting A and the fine painting B",
             "", (f"`OMP_NUM_THREADS=1 nice -n 19 python benchmarks/mix.py --size {args.size} --iterations "
             f"{args.iterations} --coarse-iterations {args.coarse_iterations}`; {cpu}, {threads} torch thread(s), "
             "**under load** (a training job on the same 2 cores): the seconds are wall time of a shared machine."),
             "", ("Each cell: distance to A / distance to B (relative Gram error, `atelier.metrics.gram_distance`; "
             "lower is nearer). A is given the coarse layers relu3_1-relu5_1, B the fine relu1_1-relu2_1. "
             "Expected: A nearer (left number smaller) on relu3_1-relu5_1, B nearer on relu1_1-relu2_1. "
             "\"photo\" rows are the photo itself, before any stylisation."), "",
             "| method | photo | A (coarse) | B (fine) | image | " + " | ".join(LAYERS) + " | ordering holds | s |",
             "|---|---|---|---|---|" + "---:|" * len(LAYERS) + "---|---:|"]
    for r in rows:
        for what, key in (("result", "result"), ("photo", "photo_itself")):
            d = r[key]
            cells = " | ".join(f"{'**' if (d[k][0] < d[k][1]) == (k in COARSE) else ''}{d[k][0]:.3f} / {d[k][1]:.3f}"
                               f"{'**' if (d[k][0] < d[k][1]) == (k in COARSE) else ''}" for k in LAYERS)
            ok = ("yes" if r["holds"] else "no") if what == "result" else ("yes" if holds(d) else "no")
            s = f"{r['seconds']:.0f}" if what == "result" else ""
            lines.append(f"| {r['method']} | {r['photo'][:28]} | {r['coarse']} | {r['fine']} | {what} | {cells} | "
                         f"{ok} | {s} |")
    held = [r for r in rows if r["holds"]]
    lines += ["", (f"Bold: the cell follows the expected ordering. The ordering holds in {len(held)} of {len(rows)} "
              f"results. The run with --color-from took {colour_seconds:.0f} s (under load)."), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mix.json").write_text(json.dumps({"cpu": cpu, "args": vars(args) | {"out": str(args.out),
                                                   "sheet": str(args.sheet)}, "rows": rows}, indent=2) + "\n")
    (args.out / "mix.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
