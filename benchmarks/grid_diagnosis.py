"""Where does the arbitrary-style methods' 8-px grid come from? Measured before anything is changed.

    python benchmarks/grid_diagnosis.py [--adain A.safetensors] [--sanet S.safetensors] [--size 256]
                                        [--pairs 5] [--cache DIR]

On the protocol of ``arbitrary_eval.py`` (held-out photos x unseen paintings), ``atelier.metrics.grid_ratio``
(spectral peaks on an 8-px lattice, output over photo; 1 = no added grid) of:

* ``reconstruction``: the decoder given the photo's own relu4_1 features (alpha = 0): no style at all. A grid
  here is the decoder's (its upsampling, its capacity, its training), not the style transfer's;
* ``adain`` / ``sanet``: the full style (alpha = 1);
* ``gatys``: the default optimisation result of the same pair (no decoder: the reference);
* ``nearest``: the photo's own relu4_1 features made visible by the simplest decoder there is -- the photo
  averaged over 8x8 blocks and upsampled by nearest neighbours -- the grid a decoder would print if it
  learned nothing beyond its first layer's upsampling (an upper bound of the measure's scale).

Also the content and style distances (``atelier.evaluate``) of each. Results: ``results/grid_diagnosis.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary_eval import UNSEEN_STYLES
from johnson_eval import HELD_OUT, SHARED, gatys_reference


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line),
                platform.processor())


def blocks(photo, size: int):
    """The photo at ``size``, averaged over 8x8 blocks and upsampled back by nearest neighbours."""
    import torch.nn.functional as F

    import atelier
    from atelier.io import fit_size, resize

    x = atelier.load_image(photo)
    x = resize(x, fit_size(*x.shape[-2:], size))
    h, w = x.shape[-2:]
    return F.interpolate(F.avg_pool2d(x[..., : h // 8 * 8, : w // 8 * 8], 8), scale_factor=8, mode="nearest")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adain", default="adain")
    p.add_argument("--sanet", default="sanet")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--pairs", type=int, default=5, help="(photo, painting) pairs, photo i with painting i % 3")
    p.add_argument("--cache", default="/tmp/atelier-eval-cache", help="Gatys results (shared with the evals)")
    p.add_argument("--out", default=str(HERE / "results" / "grid_diagnosis"))
    args = p.parse_args()

    import atelier
    from atelier.metrics import grid_ratio

    rows, t0 = [], time.perf_counter()
    for i, name in enumerate(HELD_OUT[: args.pairs]):
        photo = SHARED / "registry" / "photos" / name
        style = SHARED / "styles" / UNSEEN_STYLES[i % len(UNSEEN_STYLES)]
        content = atelier.load_image(photo)
        ref, _ = gatys_reference(photo, style, args.size, Path(args.cache))
        outputs = {
            "reconstruction": atelier.run(photo, style, method="adain", model=args.adain, alpha=0.0,
                                          size=args.size, device="cpu").image,
            "adain": atelier.run(photo, style, method="adain", model=args.adain, size=args.size,
                                 device="cpu").image,
            "adain fp32": atelier.run(photo, style, method="adain", model=args.adain, size=args.size,
                                      precision="fp32", device="cpu").image,
            "sanet": atelier.run(photo, style, method="sanet", model=args.sanet, size=args.size,
                                 device="cpu").image,
            "gatys": atelier.load_image(ref),
            "nearest": blocks(photo, args.size),
        }
        for kind, out in outputs.items():
            metrics = atelier.evaluate(out, content=photo, style=style, size=args.size)
            rows.append({"photo": name, "style": style.name, "kind": kind, "grid": grid_ratio(out, content),
                         "style_swd": metrics["style_swd"], "content": metrics["content"]})
            print(f"{name:45s} {style.stem:15s} {kind:15s} grid {rows[-1]['grid']:6.2f} "
                  f"swd {metrics['style_swd']:.3f} content {metrics['content']:.3f}", flush=True)

    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    mean = {k: {m: statistics.fmean(r[m] for r in rows if r["kind"] == k) for m in ("grid", "style_swd", "content")}
            for k in kinds}
    cpu = cpu_model()
    lines = [f"# Grid diagnosis ({args.size} px, {args.pairs} pairs; {cpu}; {time.perf_counter() - t0:.0f} s)", "",
             ("`python benchmarks/grid_diagnosis.py` — grid = spectral peaks on the 8-px lattice, output over "
              "photo (1 = none added)."), "", "| output | grid | style SWD | content |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['grid']:.2f} | {v['style_swd']:.3f} | {v['content']:.3f} |" for k, v in mean.items()]
    out = Path(args.out)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"cpu": cpu, "size": args.size, "mean": mean, "rows": rows},
                                                   indent=1), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
