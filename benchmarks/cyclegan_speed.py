"""CycleGAN cost on this machine: seconds per training step by size, crop and precision; 512 px inference.

    nice -n 19 python benchmarks/cyclegan_speed.py [--sizes compact paper] [--threads 1] [--repeats 3]
        [--out benchmarks/results]

Training: one step of ``methods/cyclegan/train.py`` (both generators forward six times -- G(a), F(b), the
two cycles, the two identities --, the discriminators six times, one backward, one Adam step over all four
networks), batch 1, for the compact and the paper size at 128 and 256 px crops, fp32 and bf16 autocast.
Compact: median of ``--repeats`` steps after one warm-up step; paper: one step without warm-up (an upper
bound; its steps take tens of seconds on a shared machine). The reference row is the compact size at 128 px
in fp32, run in the same process: every row prints its ratio to it, which survives the machine's load
better than the seconds do. ``--sizes``/``--crops`` run a part (each run keeps the JSON's other rows), so
no single run is long; ``--threads``: torch threads (on a loaded machine 2 threads spin-wait on each other:
measured 10x slower than 1).

Inference: ``atelier.run(photo, method="cyclegan")`` on a 512x512 photo with a compact model (random
weights: the arithmetic is the same), fp32 and bf16, eager (compile off); the median of warm runs. Target
(issue 19): <= 0.3 s on 2 cores in fp32; johnson's compact network is timed beside it as the reference (its
idle 2-core time is in feedforward.md), so the ratio gives the figure when the machine is busy. Results: ``cyclegan.md`` and ``cyclegan.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model  # the one lscpu reader of the benchmarks


def step_seconds(size: str, crop: int, bf16: bool, repeats: int, warmup: int = 1) -> float:
    """Median seconds of one training step (after ``warmup`` steps); size 'cut': FastCUT with the compact
    generator and discriminator (methods/cut)."""
    import atelier
    from atelier.methods.cyclegan.model import SIZES, CycleGANTrainer, generator_arch
    from atelier.methods.cyclegan.train import make_step

    s = SIZES["compact" if size == "cut" else size]
    arch = generator_arch(s["ngf"], s["blocks"])
    torch.manual_seed(0)
    if size == "cut":
        from atelier.methods.cut.model import CUTTrainer
        from atelier.methods.cut.train import make_step as make_cut_step

        net = CUTTrainer(arch, s["ndf"])
        groups = [net.gen.parameters(), net.d.parameters(), net.mlp.parameters()]
        step = make_cut_step(net, atelier.trainer_spec("cut").config_class(), torch.Generator().manual_seed(0),
                             bf16)
    else:
        net = CycleGANTrainer(arch, s["ndf"], pool_size=50, crop=crop)
        groups = [net.gen.parameters(), [*net.d_a.parameters(), *net.d_b.parameters()]]
        step = make_step(net, atelier.trainer_spec("cyclegan").config_class(), torch.Generator().manual_seed(0),
                         bf16)
    opt = torch.optim.Adam([{"params": g} for g in groups], lr=2e-4, betas=(0.5, 0.999))
    if hasattr(net, "commit"):
        opt.register_step_post_hook(lambda *_: net.commit())
    a, b = torch.rand(1, 3, crop, crop), torch.rand(1, 3, crop, crop)
    times = []
    for i in range(repeats + warmup):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        step(a, b)["total"].backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def inference_seconds(method: str, precision: str, repeats: int, tmp: Path) -> float:
    """Median seconds of atelier.run on a 512x512 photo with a compact ``method`` model (cyclegan, or
    johnson's compact network as the reference; random weights), eager."""
    import atelier
    from atelier.engine.checkpoint import save_model
    from atelier.methods.cyclegan.model import SIZES, GeneratorPair, generator_arch
    from atelier.methods.johnson.model import TransformerNet

    path = tmp / f"{method}.safetensors"
    if not path.exists():
        torch.manual_seed(0)
        net = (GeneratorPair(generator_arch(SIZES["compact"]["ngf"], SIZES["compact"]["blocks"]))
               if method == "cyclegan" else TransformerNet.from_arch("compact"))
        save_model(path, net.state_dict(), method=method, arch=net.arch)
    photo = torch.rand(1, 3, 512, 512)
    times = []
    for i in range(repeats + 2):  # two warm-ups: the file load, oneDNN's kernel choice
        t0 = time.perf_counter()
        atelier.run(photo, method=method, model=str(path), size=0, precision=precision, compile="off")
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_report(out: Path, *, threads: int, repeats: int) -> None:
    """cyclegan.md from cyclegan.json."""
    data = json.loads((out / "cyclegan.json").read_text())
    meta, rows, infer = data["meta"], data["training"], data.get("inference_512", {})
    lines = [
        "# CycleGAN: training step and inference cost",
        "",
        (f"`python benchmarks/cyclegan_speed.py --threads {threads} --repeats {repeats}` (last part), "
         f"{meta['date']}, CPU: {meta['cpu']}, torch {meta['torch']}. Load average {meta['load_average_at_start']} "
         f"at the start, {meta['load_average_at_end']} at the end of the last part: all figures were taken UNDER "
         "LOAD (the machine is shared with a training and other jobs; this ran at nice 19), so the seconds are "
         "upper bounds; the ratios to the reference row, measured in the same process, are the more stable "
         "figures."),
        "",
        ("Training (batch 1; compact: median of the steps after a warm-up, paper: one step, no warm-up; ratio "
         "to the compact 128 px fp32 step of the same run; load: the 1-minute load average after the row):"),
        "",
        "| size | crop | precision | s/step | ratio | steps/hour | threads | load |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r['size']} | {r['crop']} | {r['precision']} | {r['seconds_per_step']:.3f} | {r['ratio']:.2f} | "
          f"{r['steps_per_hour']} | {r.get('threads', '')} | {r.get('load_average', '')} |" for r in rows],
        "",
    ]
    if infer:
        lines += [(f"Inference, compact generator, 512x512 photo, `atelier.run` eager (median of warm runs), "
                  f"{infer['threads']} thread(s), load {infer['load_average']}: fp32 {infer['fp32']:.3f} s, "
                  f"bf16 {infer['bf16']:.3f} s (target <= 0.3 s on 2 cores in fp32). Johnson's compact network "
                  f"in the same run, fp32: {infer['johnson_compact_fp32']:.3f} s, so the cyclegan generator costs "
                  f"{infer['fp32'] / infer['johnson_compact_fp32']:.2f}x johnson's compact; johnson's compact "
                  f"measured 0.157 s fp32 eager on 2 threads (feedforward.md), which puts the cyclegan "
                  f"generator at ~{0.157 * infer['fp32'] / infer['johnson_compact_fp32']:.2f} s there "
                  "(an estimate by ratio, not a measurement on an idle machine)."), ""]
    lines += [f"Note: {n}" for n in data.get("notes", [])] + [""]
    (out / "cyclegan.md").write_text("\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["compact", "paper"], choices=["compact", "paper", "cut"],
                   help="'cut': a FastCUT step with the compact networks.")
    p.add_argument("--report", action="store_true", help="Only rewrite cyclegan.md from cyclegan.json.")
    p.add_argument("--crops", nargs="+", type=int, default=[128, 256], choices=[128, 256])
    p.add_argument("--no-inference", action="store_true", help="Skip the 512 px inference timing.")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    if args.report:
        write_report(args.out, threads=args.threads, repeats=args.repeats)
        return 0
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    store = args.out / "cyclegan.json"
    old = json.loads(store.read_text()) if store.exists() else {}
    rows = [r for r in old.get("training", []) if r["size"] not in args.sizes or r["crop"] not in args.crops]
    ref = step_seconds("compact", 128, False, args.repeats)
    for size in args.sizes:
        for crop in args.crops:
            for bf16 in (False, True):
                if (size, crop, bf16) == ("compact", 128, False):
                    sec = ref
                elif size in ("compact", "cut"):
                    sec = step_seconds(size, crop, bf16, args.repeats)
                else:
                    sec = step_seconds(size, crop, bf16, 1, warmup=0)
                rows.append({"size": size, "crop": crop, "precision": "bf16" if bf16 else "fp32",
                             "seconds_per_step": round(sec, 4), "ratio": round(sec / ref, 2),
                             "steps_per_hour": int(3600 / sec), "threads": args.threads,
                             "load_average": round(os.getloadavg()[0], 2)})
                print(rows[-1], flush=True)
    rows.sort(key=lambda r: (["compact", "cut", "paper"].index(r["size"]), r["crop"], r["precision"]))
    infer = old.get("inference_512", {})
    if not args.no_inference:
        with tempfile.TemporaryDirectory() as tmp:
            infer = {prec: round(inference_seconds("cyclegan", prec, 2 * args.repeats + 1, Path(tmp)), 4)
                     for prec in ("fp32", "bf16")}
            infer["johnson_compact_fp32"] = round(inference_seconds("johnson", "fp32", 2 * args.repeats + 1,
                                                                    Path(tmp)), 4)
            infer.update(threads=args.threads, load_average=round(os.getloadavg()[0], 2))
        print("inference 512 px:", infer, flush=True)
    meta = {"cpu": cpu_model(), "threads": args.threads, "load_average_at_start": round(load, 2),
            "load_average_at_end": round(os.getloadavg()[0], 2), "torch": torch.__version__,
            "date": datetime.now(UTC).isoformat(timespec="seconds")}
    args.out.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({"meta": meta, "training": rows, "inference_512": infer,
                                 "notes": old.get("notes", [])}, indent=2) + "\n")
    write_report(args.out, threads=args.threads, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
