"""How to bring a result made at a work size up to the output size (atelier.ops.upsampling, --work-size).

    python benchmarks/upsampling.py [--work-sizes 640 480] [--frames 3]

Frames of vtest (resized to 1280x720) and of sintel (resized to 1280x545) are stylised with the bundled
johnson starry_night model (fp32) at the full size, and at each work size then upsampled by: bicubic; the
guided filter (He, Sun & Tang 2013, colour guide eq. 19-20, with He & Sun 2015's fast upsampling of the
coefficients; the alternative the issue named, kept here as the comparison) at radii 1, 2, 4 of the work size
and eps 1e-2 ... 1e-5; the residual up(p - I_low) + I in RGB; and atelier's detail band (the same in
luminance). Reported: style_swd to the painting, content distance and SSIM to the photo (atelier.metrics
.evaluate), means over the frames. Writes benchmarks/results/upsampling.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
STYLE = SHARED / "styles" / "starry_night.jpg"
CLIPS = {"vtest": (SHARED / "registry" / "video" / "vtest", (1280, 720)),
         "sintel": (SHARED / "video" / "sintel", (1280, 545))}


def box(x, r):
    import cv2

    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REPLICATE)


def guided_filter_upsample(p, guide_low, guide, r, eps):
    """He et al. 2013 eq. 19-20 (colour guide) fitted at the work size; A, b bilinearly upsampled (He & Sun
    2015). p, guide_low (h,w,3), guide (H,W,3), float32 -> (H,W,3)."""
    import cv2

    hw = guide_low.shape[:2]
    mean_i, mean_p = box(guide_low, r), box(p, r)
    var = box(np.einsum("hwi,hwj->hwij", guide_low, guide_low).reshape(*hw, 9), r).reshape(*hw, 3, 3)
    var = var - mean_i[..., :, None] * mean_i[..., None, :] + eps * np.eye(3, dtype=np.float32)
    cov = box(np.einsum("hwc,hwi->hwci", p, guide_low).reshape(*hw, 9), r).reshape(*hw, 3, 3)
    cov = cov - mean_p[..., :, None] * mean_i[..., None, :]
    a = cov @ np.linalg.inv(var)  # (h,w,3,3): A[c, i]
    b = mean_p - np.einsum("hwci,hwi->hwc", a, mean_i)
    a, b = box(a.reshape(*hw, 9), r), box(b, r)
    size = (guide.shape[1], guide.shape[0])
    a = cv2.resize(a, size, interpolation=cv2.INTER_LINEAR).reshape(*guide.shape[:2], 3, 3)
    b = cv2.resize(b, size, interpolation=cv2.INTER_LINEAR)
    return np.clip(np.einsum("hwci,hwi->hwc", a, guide) + b, 0, 1)


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-sizes", type=int, nargs="+", default=[640, 480])
    p.add_argument("--frames", type=int, default=3, help="Frames per clip (spread over the clip).")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)

    import cv2
    import torch

    import atelier
    from atelier.metrics import evaluate
    from atelier.ops.upsampling import detail_upsample

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].clamp(0, 1)

    def stylize(rgb_u8):
        return atelier.run(rgb_u8, model="starry_night", precision="fp32").image[0].permute(1, 2, 0).numpy()

    scores: dict[tuple, list] = {}
    for (folder, size) in CLIPS.values():
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg"))
        for f in files[:: max(1, len(files) // args.frames)][: args.frames]:
            frame = cv2.resize(cv2.imread(str(f)), size, interpolation=cv2.INTER_CUBIC)[..., ::-1].copy()
            photo = frame.astype(np.float32) / 255

            def score(key, out, frame=frame):
                m = evaluate(t(out), style=STYLE, content=frame)
                scores.setdefault(key, []).append([m["style_swd"], m["content"], m["ssim"]])

            score(("full size", "-"), stylize(frame))
            for ws in args.work_sizes:
                low_in = cv2.resize(frame, atelier.io.fit_size(*frame.shape[:2], ws)[::-1], interpolation=cv2.INTER_AREA)
                low, photo_low = stylize(low_in), low_in.astype(np.float32) / 255
                up = cv2.resize(low, size, interpolation=cv2.INTER_CUBIC)
                score((ws, "bicubic"), up)
                for r in (1, 2, 4):
                    for eps in (1e-2, 1e-3, 1e-4, 1e-5):
                        score((ws, f"guided filter r={r} eps={eps:g}"), guided_filter_upsample(low, photo_low, photo, r, eps))
                score((ws, "residual up(p - I_low) + I, RGB"),
                      up + photo - cv2.resize(photo_low, size, interpolation=cv2.INTER_CUBIC))
                score((ws, "detail band in luminance (atelier)"), detail_upsample(low, photo_low, photo))
            print(f"{f.name}: done", file=sys.stderr, flush=True)

    lines = [(f"Measured {datetime.now(UTC).isoformat(timespec='seconds')} ({cpu_model()}), "
             f"{args.frames} frames each of vtest at 1280x720 and sintel at 1280x545, johnson starry_night fp32."), "",
             "| work size | upsampling | style_swd | content | SSIM to the photo |", "|---:|---|---:|---:|---:|"]
    for (ws, name), vals in scores.items():
        s, c, q = np.mean(vals, 0)
        lines.append(f"| {ws} | {name} | {s:.4f} | {c:.3f} | {q:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "upsampling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
