"""Winograd F(4x4,3x3) convolutions (``atelier.ops.winograd``) against oneDNN's ``conv2d``, fp32, in one process.

    python benchmarks/winograd.py [--size 512] [--threads 2] [--repeats 5] [--out benchmarks/results]

1. Every VGG-19 convolution to conv5_1 at the shapes a SIZE px (3:2) image gives it: median ms of conv2d and
   of the Winograd routine (forward only), their ratio and the relative error: which layers should use it.
2. One Gatys step (the default losses: content relu4_2, Grams relu1_1..relu5_1, TV; forward and backward to
   the pixels) with Winograd off and on, alternated, median of REPEATS: the ratio is the speed-up of every
   fp32 optimisation step on this CPU.
Writes ``winograd.json`` / ``winograd.md`` in --out with the CPU's model name.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model
from limit import _median_time

from atelier.features import _BLOCKS, WINOGRAD_LAYERS, get_vgg19
from atelier.losses import PerceptualLoss
from atelier.methods.gatys.method import BASE_STYLE_WEIGHT
from atelier.ops import winograd


def median_ms(fn, repeats: int) -> float:
    return 1e3 * _median_time(fn, repeats)


def layer_table(h: int, w: int, repeats: int) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    for block, n_conv, c_in, c_out in _BLOCKS:
        s = 2 ** (block - 1)
        for i in range(1, n_conv + 1):
            ci = c_in if i == 1 else c_out
            x = torch.randn(1, ci, h // s, w // s, generator=g).contiguous(memory_format=torch.channels_last)
            weight = torch.randn(c_out, ci, 3, 3, generator=g) * 0.05
            kernels = winograd.transforms(weight)
            with torch.no_grad():
                ref = F.conv2d(x, weight, padding=1)
                err = float((winograd.conv3x3(x, kernels, None) - ref).norm() / ref.norm())
                a = median_ms(lambda x=x, weight=weight: F.conv2d(x, weight, padding=1), repeats)
                b = median_ms(lambda x=x, k=kernels: winograd.conv3x3(x, k, None), repeats)
            name = f"conv{block}_{i}"
            rows.append({"layer": name, "shape": f"{ci}->{c_out} @ {h // s}x{w // s}", "conv2d_ms": round(a, 2),
                         "winograd_ms": round(b, 2), "speedup": round(a / b, 2), "rel_error": float(f"{err:.1e}"),
                         "used": name in WINOGRAD_LAYERS})
            print(rows[-1], flush=True)
    return rows


def gatys_step(h: int, w: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(1)
    content, style = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)
    loss = PerceptualLoss(get_vgg19(), style_weight=BASE_STYLE_WEIGHT, tv_weight=1e-3, content_weight=1.0)
    loss.set_content(content)
    loss.set_styles([loss.style_grams(style)], [1.0])
    image = content.clone().requires_grad_(True)

    def step():
        image.grad = None
        loss(image)["total"].backward()

    times = {False: [], True: []}
    for _ in range(repeats):
        for enabled in (False, True):  # alternated, so drifts of the clock hit both alike
            winograd.ENABLED = enabled
            step()  # warm (kernels transformed once)
            t = time.perf_counter()
            step()
            times[enabled].append(time.perf_counter() - t)
    winograd.ENABLED = True
    off, on = statistics.median(times[False]), statistics.median(times[True])
    return {"size": [h, w], "conv2d_s": round(off, 3), "winograd_s": round(on, 3), "speedup": round(off / on, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    h, w = args.size * 2 // 3, args.size
    layers = layer_table(h, w, args.repeats)
    steps = [gatys_step(h // k, w // k, args.repeats) for k in (4, 2, 1)]
    for s in steps:
        print(s, flush=True)
    res = {"cpu": cpu_model(), "threads": args.threads, "torch": torch.__version__, "layers": layers, "gatys_step": steps}
    out = Path(args.out)
    (out / "winograd.json").write_text(json.dumps(res, indent=1))
    lines = [f"# Winograd F(4x4,3x3) against conv2d (fp32, {args.threads} threads, {res['cpu']})", "",
             "`python benchmarks/winograd.py`; medians in one process.", "",
             "| layer | shape | conv2d ms | winograd ms | speed-up | rel. error | used |", "|---|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r['layer']} | {r['shape']} | {r['conv2d_ms']} | {r['winograd_ms']} | {r['speedup']} | "
              f"{r['rel_error']} | {'yes' if r['used'] else 'no'} |" for r in layers]
    lines += ["", "One Gatys step (default losses, forward and backward to the pixels), Winograd off / on, alternated:", "",
              "| size | conv2d s | winograd s | speed-up |", "|---|---:|---:|---:|"]
    lines += [f"| {s['size'][1]}x{s['size'][0]} | {s['conv2d_s']} | {s['winograd_s']} | {s['speedup']} |" for s in steps]
    (out / "winograd.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
