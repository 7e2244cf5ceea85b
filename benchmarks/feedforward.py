"""Feed-forward (Johnson et al.) inference speed: 512 px and 1920x1080 through the public API.

    python benchmarks/feedforward.py [--repeats 7] [--model NAME|PATH] [--out benchmarks/results]

For each network size (compact, paper), precision (fp32, bf16), backend (torch, onnxruntime for fp32) and
for torch eager or through torch.compile (``compile='on'``; the compile itself happens in the warm-up) the whole ``atelier.run(..., method="johnson")`` call is timed on a 512x512 and a 1920x1080 photo: model
lookup, resize, the forward pass and the clamp (loading the file is cached after the warm-up run, as in
a server or a batch). Median of ``--repeats`` warm runs, interleaved so that machine noise spreads over
every variant. The reference, run in the same process, is a plain PyTorch forward of the paper-sized
network in fp32 (no atelier code around it); every row prints its speed-up against it at the same size.

Networks are built with random weights unless ``--model`` names a trained one for the compact rows (the
arithmetic is the same; weights do not change the time). Targets (issue 5): compact model 512 px in at
most 0.10 s, 1920x1080 in at most 0.5 s. Results: ``feedforward.json`` and ``feedforward.md``.
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
SIZES = {"512": (512, 512), "1920x1080": (1080, 1920)}
TARGETS = {"512": 0.10, "1920x1080": 0.5}  # seconds, compact model (issue 5)


def build_models(tmp: Path, trained: str | None) -> dict[str, Path]:
    """{'compact': path, 'paper': path} of model files (random weights where no trained one is given)."""
    from atelier.engine.checkpoint import save_model
    from atelier.methods.johnson.model import TransformerNet

    out = {}
    for arch in ("compact", "paper"):
        if arch == "compact" and trained:
            import atelier

            out[arch] = atelier.find_model(trained)
            continue
        torch.manual_seed(0)
        net = TransformerNet.from_arch(arch)
        out[arch] = save_model(tmp / f"{arch}.safetensors", net.state_dict(), method="johnson", arch=net.arch)
    return out


def main(argv=None) -> int:
    import atelier
    from atelier.methods.johnson.model import TransformerNet
    from atelier.runtime import tune_allocator

    tune_allocator()  # as the command line does
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--model", default=None, help="A trained compact model for the compact rows.")
    p.add_argument("--no-onnx", action="store_true", help="Skip the onnxruntime rows.")
    p.add_argument("--no-compile", action="store_true", help="Skip the torch.compile rows.")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)

    gen = torch.Generator().manual_seed(0)
    images = {k: torch.rand(1, 3, *hw, generator=gen) for k, hw in SIZES.items()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = build_models(tmp, args.model)
        compiles = ("off",) if args.no_compile else ("off", "on")
        variants = [(a, prec, "torch", c) for a in ("compact", "paper") for prec in ("fp32", "bf16")
                    for c in compiles]
        if not args.no_onnx:
            for arch in ("compact", "paper"):
                onnx = tmp / f"{arch}-export.onnx"
                atelier.export_onnx(files[arch], onnx)
                files[f"{arch}-onnx"] = onnx
                variants.append((arch, "fp32", "onnx", "off"))

        ref_net = TransformerNet.from_arch("paper").eval().requires_grad_(False)

        def reference(x):
            with torch.inference_mode():
                return ref_net(x)

        def ours(arch, prec, backend, comp, x):
            model = files[f"{arch}-onnx" if backend == "onnx" else arch]
            return atelier.run(x, method="johnson", model=str(model), precision=prec, device="cpu",
                               compile=comp).image

        times: dict[tuple, list[float]] = {}
        for key, x in images.items():  # warm-up: loads, caches, oneDNN kernel selection
            reference(x)
            for v in variants:
                ours(*v, x)
        for _ in range(args.repeats):
            for key, x in images.items():
                t = time.perf_counter()
                reference(x)
                times.setdefault(("reference", "fp32", "torch", "off", key), []).append(time.perf_counter() - t)
                for v in variants:
                    t = time.perf_counter()
                    ours(*v, x)
                    times.setdefault((*v, key), []).append(time.perf_counter() - t)

    rows = []
    for (arch, prec, backend, comp, key), ts in times.items():
        med = statistics.median(ts)
        ref = statistics.median(times[("reference", "fp32", "torch", "off", key)])
        rows.append({"size": key, "network": arch, "precision": prec, "backend": backend, "compiled": comp == "on",
                     "seconds": round(med, 4), "speedup_vs_reference": round(ref / med, 2),
                     "target_seconds": TARGETS[key] if arch == "compact" else None})
    meta = {"date": datetime.now(UTC).isoformat(timespec="minutes"), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
            "repeats": args.repeats, "trained_model": args.model}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "feedforward.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = [(f"Measured {meta['date']}, torch {meta['torch']}, {meta['threads']} threads, median of "
             f"{args.repeats} warm runs through atelier.run (reference: plain fp32 forward of the paper network)."),
             "", "| size | network | precision | backend | compiled | s / image | speed-up vs reference | target |",
             "|---|---|---|---|---|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["size"], r["network"], r["backend"], r["precision"], r["compiled"])):
        target = "" if r["target_seconds"] is None else (
            f"≤ {r['target_seconds']} {'met' if r['seconds'] <= r['target_seconds'] else 'NOT met'}")
        lines.append(f"| {r['size']} | {r['network']} | {r['precision']} | {r['backend']} | "
                     f"{'yes' if r['compiled'] else 'no'} | {r['seconds']:.3f} "
                     f"| {r['speedup_vs_reference']} | {target} |")
    table = "\n".join(lines) + "\n"
    (args.out / "feedforward.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
