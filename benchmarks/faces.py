"""Faces that stay faces (issue 20): ``--protect faces`` against the plain run, per method, on the people
photos of ../shared/data.

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/faces.py [--size 256] [--iterations 60] [--coarse-iterations 30]

The registry photos with a frontal face (of the 73, the detector fires on these two and once, falsely, on a
machine): Grace Hopper and Eileen Collins; a third "photo" puts them side by side (two faces in one image). Painting: The Starry Night
(registry copy; the johnson model ``starry_night`` was trained on it). For each photo and method, the plain
result and the protected one (``--protect-strength`` default) are measured

* inside the faces: SSIM of the luminance (``metrics.ssim_luminance``) and the content distance at relu4_2
  (``metrics.content_distance``) between the result and the photo, on the crop of each face's box (the
  mask's weight > 0.5), averaged over the faces;
* elsewhere: the Gram style distance to the painting with the Gram matrices guided by 1 - mask (Gatys 2017
  §4: the faces left out of the statistics), and the content distance weighted by 1 - mask.

Writes benchmarks/results/faces.md (+ .json) and the contact sheet docs/faces.jpg.
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
PHOTOS = SHARED / "registry" / "photos"
PAINTING = SHARED / "registry" / "starry_night__opencv-doc.jpg"
PEOPLE = [PHOTOS / "matplotlib__grace_hopper.jpg", PHOTOS / "scikit-image__astronaut.jpg"]
METHODS = ["gatys", "adain", "sanet", "wct", "johnson"]
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def photos(size: int):
    """[(name, (1,3,H,W) photo at long side ``size``)]: the two portraits and both side by side."""
    import torch

    from atelier import io

    out = [(p.name, io.resize_long_side(io.load_image(p), size)) for p in PEOPLE]
    h = min(x.shape[-2] for _, x in out)
    pair = torch.cat([io.resize(x, (h, round(x.shape[-1] * h / x.shape[-2]))) for _, x in out], dim=-1)
    out.append(("both side by side", io.resize_long_side(pair, size)))
    return out


def measure(vgg, result, photo, painting, mask, boxes) -> dict:
    """Face-region SSIM and content distance (per face box, averaged), and the style and content distance
    outside the faces (guided by 1 - mask)."""
    import torch

    from atelier import io
    from atelier.losses import content_loss, gram_matrix, relative_sq_error
    from atelier.metrics import content_distance, ssim_luminance

    result = io.resize(result, tuple(photo.shape[-2:]))
    ssim, content = [], []
    for x0, y0, w, h in boxes:
        ys, xs = slice(max(0, round(y0)), round(y0 + h)), slice(max(0, round(x0)), round(x0 + w))
        a, b = result[..., ys, xs], photo[..., ys, xs]
        ssim.append(ssim_luminance(a, b))
        a, b = io.resize(a, (128, 128)), io.resize(b, (128, 128))  # relu4_2 needs a few positions
        content.append(content_distance(vgg(a, ["relu4_2"]), vgg(b, ["relu4_2"])))
    fx = vgg(result, [*STYLE_LAYERS, "relu4_2"])
    fc = vgg(photo, ["relu4_2"])
    fs = vgg(io.resize_long_side(painting, max(photo.shape[-2:])), STYLE_LAYERS)
    rest = (1 - mask).clamp(0, 1)
    style_rest = sum(float(relative_sq_error(gram_matrix(fx[k], rest), gram_matrix(fs[k]))) for k in STYLE_LAYERS)
    with torch.no_grad():
        content_rest = float(content_loss(fx["relu4_2"], fc["relu4_2"], rest)) / float(rest.mean())
    return {"face_ssim": sum(ssim) / len(ssim), "face_content": sum(content) / len(content),
            "style_rest": style_rest / len(STYLE_LAYERS), "content_rest": content_rest}


def main(argv=None) -> int:
    import torch

    import atelier
    from atelier import io
    from atelier.comparison import write_contact_sheet
    from atelier.features import get_vgg19
    from atelier.ops.faces import detect_faces, face_mask

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=60)
    p.add_argument("--coarse-iterations", type=int, default=30)
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--out", type=Path, default=HERE / "results" / "faces.md")
    p.add_argument("--sheet", type=Path, default=HERE.parent / "docs" / "faces.jpg")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    vgg = get_vgg19(device="cpu")
    painting = io.load_image(PAINTING)
    options = {"gatys": {"iterations": args.iterations, "coarse_iterations": args.coarse_iterations},
               "johnson": {"model": "starry_night"}}
    rows, sheet = [], []
    for name, photo in photos(args.size):
        t = time.perf_counter()
        boxes = detect_faces(photo)
        detect_seconds = time.perf_counter() - t
        mask = face_mask(boxes, tuple(photo.shape[-2:]))
        cells = []
        for method in args.methods:
            style = None if method == "johnson" else PAINTING
            for protect in ("none", "faces"):
                t = time.perf_counter()
                with torch.enable_grad():
                    res = atelier.run(photo, style, method=method, size=args.size, device="cpu", protect=protect,
                                      **options.get(method, {}))
                seconds = time.perf_counter() - t
                row = {"photo": name, "method": method, "protect": protect, "faces": len(boxes),
                       "seconds": round(seconds, 1), "detect_seconds": round(detect_seconds, 2),
                       **measure(vgg, res.image, photo, painting, mask, boxes)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if method in ("gatys", "adain"):
                    cells.append((res.image, f"{method}, {'--protect faces' if protect == 'faces' else 'plain'}"))
        sheet.append((photo, None, [(photo * (0.35 + 0.65 * mask), f"face mask ({len(boxes)} found)"), *cells]))
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    write_contact_sheet(sheet, args.sheet, tile=180, overwrite=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    write_report(rows, args)
    return 0


def write_report(rows: list[dict], args) -> None:
    from atelier.protect import DEFAULT_STRENGTH

    cmd = (f"OMP_NUM_THREADS=1 nice -n 19 python benchmarks/faces.py --size {args.size} --iterations "
           f"{args.iterations} --coarse-iterations {args.coarse_iterations}")
    lines = ["# Faces that stay faces: `--protect faces` against the plain run", "",
             (f"`{cmd}`; {cpu_model()}, 1 torch thread, **under load** (a training job on the same 2 cores): "
             "seconds are wall time of a shared machine."), "",
             (f"Painting: The Starry Night (registry copy; johnson: the bundled `starry_night` model). Protection "
             f"strength {DEFAULT_STRENGTH} (the default). Face SSIM and face content: result against the photo on "
             "each face's box (SSIM: higher = closer to the photo; content: relu4_2 relative error, lower = "
             "closer). Style and content elsewhere: outside the face masks (Gram distance to the painting guided "
             "by 1 - mask; content weighted by 1 - mask)."), "",
             "| photo | faces | method | protect | face SSIM | face content | style elsewhere | content elsewhere | s |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['faces']} | {r['method']} | {r['protect']} | {r['face_ssim']:.3f} | "
                     f"{r['face_content']:.3f} | {r['style_rest']:.3f} | {r['content_rest']:.3f} | {r['seconds']} |")
    lines += ["", "Mean over the photos, protected / plain:", "",
              "| method | face SSIM | face content | style elsewhere | content elsewhere |", "|---|---:|---:|---:|---:|"]
    for m in dict.fromkeys(r["method"] for r in rows):
        pairs = [(a, b) for a in rows for b in rows if a["method"] == b["method"] == m and a["photo"] == b["photo"]
                 and a["protect"] == "faces" and b["protect"] == "none"]
        ratio = {k: sum(a[k] / b[k] for a, b in pairs) / len(pairs)
                 for k in ("face_ssim", "face_content", "style_rest", "content_rest")}
        lines.append(f"| {m} | {ratio['face_ssim']:.2f}x | {ratio['face_content']:.2f}x | {ratio['style_rest']:.2f}x | "
                     f"{ratio['content_rest']:.2f}x |")
    detect = sorted({(r["photo"], r["detect_seconds"]) for r in rows})
    lines += ["", "Face detection (numpy Haar cascade, `ops/haar.py`) per photo, under load: " +
              ", ".join(f"{n} {s} s" for n, s in detect) + ".", ""]
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
