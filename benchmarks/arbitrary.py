"""Arbitrary-style (AdaIN, SANet, WCT) inference speed through the public API, style encoding included.

    python benchmarks/arbitrary.py [--repeats 7] [--size 512] [--out benchmarks/results]
                                   [--adain NAME|PATH] [--sanet NAME|PATH] [--wct NAME|PATH]

For each method (adain, sanet, wct), decoder size (compact, paper) and precision (fp32, bf16) the whole
``atelier.run(photo, painting, method=...)`` call is timed with the embedded example pair as tensors
(decoding the files is not timed): model lookup, resizing both images, the VGG-19 encoding of the painting
(at ``style_size`` 512) and of the photo, AdaIN or the attention modules, the decoder and the clamp. Loading
the network file is cached after the warm-up run (as in a server or a batch). Median of ``--repeats`` warm
runs, the variants interleaved so machine noise spreads over all of them.

Networks have random weights unless ``--adain``/``--sanet`` name trained ones for the compact rows (the
arithmetic is the same; weights do not change the time). Target (issue 6): 512 px in at most 0.5 s on the
2-core machine for either method. The ``vgg`` rows are the floor under any decoder: VGG-19 up to relu4_1
of the photo and of the painting, both at 512 px, the encoding AdaIN cannot skip. Results:
``arbitrary.json`` and ``arbitrary.md`` in ``--out``, with ``lscpu``'s model name.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
TARGET_SECONDS = 0.5  # 512 px, either method (issue 6)


def build_models(tmp: Path, trained: dict[str, str | None]) -> dict[tuple[str, str], Path]:
    """{(method, arch): model file}: random weights unless a trained compact model is given."""
    import atelier
    from atelier.engine.checkpoint import save_model
    from atelier.methods.adain.method import AdaINNet
    from atelier.methods.sanet.model import SANetNet
    from atelier.methods.wct.model import WCTNet

    out = {}
    for method, cls in (("adain", AdaINNet), ("sanet", SANetNet), ("wct", WCTNet)):
        for arch in ("compact", "paper"):
            if arch == "compact" and trained.get(method):
                out[method, arch] = atelier.find_model(trained[method])
                continue
            torch.manual_seed(0)
            net = cls(arch)
            out[method, arch] = save_model(tmp / f"{method}-{arch}.safetensors", net.state_dict(), method=method,
                                           arch=net.arch)
    return out


def encode_only(content, style, size: int, precision: str) -> None:
    """VGG-19 to relu4_1 of the photo and the painting at ``size`` (AdaIN's floor)."""
    from atelier import io
    from atelier.features import get_vgg19

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    vgg = get_vgg19(device="cpu", dtype=dtype)
    with torch.inference_mode():
        for img in (content, style):
            vgg(io.resize(img, io.fit_size(*img.shape[-2:], size)), ("relu4_1",))


def cpu_model() -> str:
    import subprocess

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None) -> int:
    import atelier
    from atelier.runtime import tune_allocator

    tune_allocator()  # as the command line does
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--size", type=int, default=512, help="long side of the output (the target is for 512)")
    p.add_argument("--methods", nargs="+", default=["adain", "sanet", "wct"], choices=["adain", "sanet", "wct", "vgg"])
    p.add_argument("--archs", nargs="+", default=["compact", "paper"], choices=["compact", "paper"])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--adain", help="a trained AdaIN model for the compact rows")
    p.add_argument("--sanet", help="a trained SANet model for the compact rows")
    p.add_argument("--wct", help="trained WCT decoders for the compact rows")
    p.add_argument("--out", default=str(HERE / "results"), help="folder of arbitrary.json / arbitrary.md")
    args = p.parse_args(argv)

    content_path, style_path = atelier.default_inputs()
    content, style = atelier.load_image(content_path), atelier.load_image(style_path)
    variants = [(m, "-" if m == "vgg" else a, pr) for m in args.methods
                for a in (args.archs[:1] if m == "vgg" else args.archs) for pr in args.precisions]
    times: dict[tuple, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        models = build_models(Path(tmp), {"adain": args.adain, "sanet": args.sanet, "wct": args.wct})

        def once(v) -> float:
            method, arch, precision = v
            t0 = time.perf_counter()
            if method == "vgg":
                encode_only(content, style, args.size, precision)
            else:
                atelier.run(content, style, method=method, model=str(models[method, arch]), size=args.size,
                            precision=precision, device="cpu")
            return time.perf_counter() - t0

        for v in variants:
            once(v)  # warm-up: loads the network, builds the VGG of this precision
        for _ in range(args.repeats):
            for v in variants:
                times[v].append(once(v))

    rows = []
    for (method, arch, precision), ts in times.items():
        med = statistics.median(ts)
        rows.append({"method": method, "arch": arch, "precision": precision, "size": args.size,
                     "median_seconds": round(med, 4), "runs": [round(t, 4) for t in ts],
                     "meets_target": args.size != 512 or med <= TARGET_SECONDS})
    lines = [f"# Arbitrary-style inference, {args.size} px (median of {args.repeats} warm runs)", "",
             "| method | decoder | precision | seconds | target 0.5 s at 512 px |", "|---|---|---|---:|---|"]
    for r in rows:
        ok = "yes" if r["meets_target"] else "no"
        lines.append(f"| {r['method']} | {r['arch']} | {r['precision']} | {r['median_seconds']:.3f} | {ok} |")
    machine = cpu_model()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    lines += ["", f"Torch {torch.__version__}, {torch.get_num_threads()} threads, {machine}; {stamp}."]
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arbitrary.json").write_text(json.dumps({"rows": rows, "repeats": args.repeats}, indent=2) + "\n")
    (out / "arbitrary.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
