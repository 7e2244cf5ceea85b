"""Training on several processes: steps per second with one and two ranks here, and a paper estimate for N machines.

    python benchmarks/train_ddp.py [--steps 8] [--warmup 2] [--rounds 1] [--size 256] [--note "under load"]

Each variant trains johnson (compact network, ``--size`` px crops, ``--precision auto``) through the public API
in fresh processes, on the first photos of ../shared/data/train with one style, and times the steps from
rank 0's progress events (the median of the step times after ``--warmup`` steps; start-up is not counted):

* ``1 process x 2 threads, batch 4``: what ``atelier train`` does on this 2-core machine (and the same with
  OMP_WAIT_POLICY=PASSIVE: OpenMP threads that sleep instead of spinning when a core is taken by another job);
* ``2 ranks x 1 thread, batch 4 (2 each)``: ``torchrun --nproc-per-node 2``, gloo on loopback;
* ``1 process x 1 thread, batch 4`` and ``batch 2``: one core's compute for the whole batch and for one
  rank's share, to separate compute from the cost of the gradient all-reduce and of running two processes.

The two-rank worker also times a gloo all-reduce of a tensor of the gradient's size on loopback. The variants
run interleaved (``--rounds``), so the load of the machine spreads over all of them; read the ratios.

Paper estimate (no machines to measure on): a step on N machines, each with its own batch of 4 (the global
batch grows with N), costs the step time T of one machine (the best measured here: the variant with the most
samples per second, scaled to a batch of 4) plus a ring all-reduce of the gradients,
2(N-1)/N x bytes / bandwidth + 2(N-1) x latency (Patarasuk & Yuan 2009), with no overlap of communication and
backward pass (DDP overlaps them, so this is pessimistic). Speed-up in samples per second = N x T / (T + C).
Results: ``benchmarks/results/train_ddp.json`` and ``train_ddp.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
LATENCY = 50e-6  # seconds per message of a ring step on a LAN (an assumption, not measured)
FAST_STEP = 0.05  # seconds: an assumed GPU step, to show where the network starts to matter


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------- worker


def worker(args) -> None:
    """One training process (alone or a torchrun rank): time the steps, write them (rank 0) as JSON."""
    import torch

    import atelier

    torch.set_num_threads(args.threads)
    allreduce = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        from atelier.methods.johnson.model import TransformerNet

        dist.init_process_group("gloo")  # the trainer uses this group as it is
        grads = torch.zeros(sum(p.numel() for p in TransformerNet.from_arch("compact").parameters()))
        for _ in range(3):
            dist.all_reduce(grads)
        t = time.perf_counter()
        for _ in range(20):
            dist.all_reduce(grads)
        allreduce = (time.perf_counter() - t) / 20
    times: list[float] = []

    def on_event(event):
        if isinstance(event, atelier.events.Progress):
            times.append(event.elapsed)

    out = Path(args.worker)
    atelier.train("johnson", DATA / "styles" / "great_wave.jpg", args.data, out.with_suffix(".safetensors"),
                  steps=args.steps, batch_size=args.batch, size=args.size, checkpoint_every=0, preview_every=0,
                  overwrite=True, callback=on_event)
    if os.environ.get("RANK", "0") == "0":
        steps = [b - a for a, b in itertools.pairwise(times)][args.warmup - 1:]
        out.write_text(json.dumps({"step_seconds": steps, "threads": torch.get_num_threads(),
                                   "allreduce_seconds": allreduce}))


# ----------------------------------------------------------------------------------------------- driver

VARIANTS = {  # name: (processes, threads each, global batch, extra environment)
    "1 process x 2 threads, batch 4": (1, 2, 4, {}),
    "1 process x 2 threads, batch 4, OMP_WAIT_POLICY=PASSIVE": (1, 2, 4, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2 ranks x 1 thread, batch 4 (2 each)": (2, 1, 4, {}),
    "1 process x 1 thread, batch 4": (1, 1, 4, {}),
    "1 process x 1 thread, batch 2": (1, 1, 2, {}),
}


def run_variant(name: str, work: Path, args) -> dict:
    procs, threads, batch, extra = VARIANTS[name]
    result = work / f"{abs(hash(name))}.json"
    own = [__file__, "--worker", str(result), "--threads", str(threads), "--batch", str(batch), "--steps",
           str(args.warmup + args.steps), "--warmup", str(args.warmup), "--size", str(args.size), "--data",
           str(args.data)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **extra}
    if procs == 1:
        cmd = [sys.executable, *own]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--rdzv-backend",
               "c10d", f"--rdzv-endpoint=127.0.0.1:{_free_port()}", *own]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return json.loads(result.read_text())


def photos(n: int, work: Path) -> Path:
    """A folder of links to the first ``n`` training photos (a short run sees each photo once at most)."""
    folder = work / "photos"
    folder.mkdir()
    for src in sorted((DATA / "train" / "imagenet_sample").glob("*.jpg"))[:n]:
        (folder / src.name).symlink_to(src)
    return folder


def estimate(step: float, params: int, machines=(1, 2, 4, 8, 16, 64), links=(1e9, 10e9)) -> list[dict]:
    """Samples-per-second speed-up on N machines (weak scaling) from a step time and a gradient size."""
    size = params * 4  # fp32 gradients, bytes
    rows = []
    for n in machines:
        row = {"machines": n}
        for bits in links:
            comm = 2 * (n - 1) / n * size / (bits / 8) + 2 * (n - 1) * LATENCY
            row[f"{bits / 1e9:g} Gbit/s"] = {"allreduce_s": comm, "speedup": n * step / (step + comm)}
        rows.append(row)
    return rows


def _reading(v: dict) -> list[str]:
    """What the measured ratios say (computed from the medians)."""
    two = v["2 ranks x 1 thread, batch 4 (2 each)"]["median"]
    half = v["1 process x 1 thread, batch 2"]["median"]
    spin, passive = (v[k]["median"] for k in ("1 process x 2 threads, batch 4",
                                                "1 process x 2 threads, batch 4, OMP_WAIT_POLICY=PASSIVE"))
    return [
        (f"Reading: a step of the two ranks ({two:.2f} s) against one process doing one rank's share alone on one "
        f"thread ({half:.2f} s): {two - half:+.2f} s per step ({two / half:.2f}x) for running two processes side "
        "by side, the gradient all-reduce and waiting for the slower rank. The single process with two threads "
        f"({spin:.2f} s; {passive:.2f} s with OMP_WAIT_POLICY=PASSIVE) loses to the two ranks here because of the "
        "load: its OpenMP threads wait for each other while other jobs hold the cores, and one process gets one "
        "share of the contested cores where two get two. On an idle machine the two should be close; this run "
        "cannot say which wins there."),
    ]


def markdown(res: dict) -> str:
    v = res["variants"]
    base = v["1 process x 2 threads, batch 4"]["median"]  # the reference of the ratios
    lines = [
        "# Training on several processes (DistributedDataParallel, gloo)",
        "",
        (f"{res['date']}, {res['cpu']}, {res['cores']} cores, torch {res['torch']}. **{res['note']}**: every figure "
        "was taken while other agents and a niced training shared the 2 cores; absolute times are inflated and "
        "noisy, the ratios (variants interleaved) are what to read."),
        "",
        (f"`python benchmarks/train_ddp.py --steps {res['steps']} --rounds {res['rounds']}`: johnson, compact network "
        f"({res['params']['johnson compact']:,} parameters), {res['size']} px crops, `--precision auto`; median "
        "seconds per step after the warm-up steps, from rank 0's progress events."),
        "",
        "| variant | s/step | steps/s | samples/s | vs 1 process x 2 threads |",
        "|---|---|---|---|---|",
    ]
    for name, r in v.items():
        batch = VARIANTS[name][2]
        lines.append(f"| {name} | {r['median']:.2f} | {1 / r['median']:.2f} | {batch / r['median']:.2f} | "
                     f"{base / r['median'] * batch / 4:.2f}x (samples/s) |")
    ar = res.get("allreduce_s")
    lines += [
        "",
        f"gloo all-reduce of the compact network's gradients ({res['params']['johnson compact'] * 4 / 1e6:.2f} MB) "
        f"between the two ranks on loopback: {ar * 1e3:.1f} ms." if ar else "",
        "",
        *_reading(v),
        "",
        ("What this shows and does not show: the two ranks run on the same two cores as the single process with "
        "two threads, so the comparison is data parallelism across processes against intra-op threading "
        "within one process, for the same work. It measures the overhead DDP adds on one machine (the gradient "
        "all-reduce, two copies of VGG and of the data pipeline, the synchronisation of the ranks at every step). "
        "It does not show scaling: there is no more compute to gain on 2 cores, no network between the ranks "
        "(loopback), and the other agents' load reaches the ranks unevenly, which DDP pays at every step "
        "(the slowest rank sets the pace)."),
        "",
        "## Paper estimate on N machines",
        "",
        (f"Each machine does the step of this machine on its own batch of 4 (T = {res['machine_step_s']:.2f} s: the "
        "best samples per second measured above, under load), then the gradients are all-reduced by a ring: "
        f"C = 2(N-1)/N x bytes / bandwidth + 2(N-1) x {LATENCY * 1e6:.0f} us, with no overlap with the backward pass "
        "(pessimistic: DDP overlaps them). Speed-up in samples per second = N T / (T + C)."),
        "",
    ]
    for arch, rows in res["estimate"].items():
        lines += [(f"**{arch}** ({res['params'][arch]:,} parameters, {res['params'][arch] * 4 / 1e6:.1f} MB of fp32 "
                  "gradients):"), "", "| machines | 1 Gbit/s: all-reduce, speed-up | 10 Gbit/s: all-reduce, speed-up |",
                  "|---|---|---|"]
        for row in rows:
            cells = [f"{row[k]['allreduce_s'] * 1e3:.1f} ms, {row[k]['speedup']:.1f}x" for k in ("1 Gbit/s", "10 Gbit/s")]
            lines.append(f"| {row['machines']} | {cells[0]} | {cells[1]} |")
        lines.append("")
    fast = res["estimate_fast_step"]
    lines += [
        ("The step here is long (a CPU running VGG-19), so the gradients are cheap to exchange. With an assumed "
        f"step of T = {fast['step']:.2f} s (a GPU, not measured), the paper network on 16 machines would reach "
        f"{fast['rows'][4]['1 Gbit/s']['speedup']:.1f}x at 1 Gbit/s and {fast['rows'][4]['10 Gbit/s']['speedup']:.1f}x "
        "at 10 Gbit/s: there the network starts to matter."),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=8, help="Timed steps per variant (after the warm-up).")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--photos", type=int, default=64)
    p.add_argument("--note", default="under load")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--report-only", action="store_true", help="Rewrite train_ddp.md from train_ddp.json.")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=4, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.report_only:
        (args.out / "train_ddp.md").write_text(markdown(json.loads((args.out / "train_ddp.json").read_text())))
        return 0

    import torch

    from atelier.methods.adain.method import AdaINNet
    from atelier.methods.johnson.model import TransformerNet

    params = {f"johnson {a}": sum(q.numel() for q in TransformerNet.from_arch(a).parameters())
              for a in ("compact", "paper")}
    params["adain paper"] = sum(q.numel() for q in AdaINNet("paper").parameters())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        args.data = photos(args.photos, work)
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        allreduce = []
        t0 = time.perf_counter()
        for r in range(args.rounds):
            for name in VARIANTS:
                got = run_variant(name, work, args)
                times[name] += got["step_seconds"]
                if got["allreduce_seconds"] is not None:
                    allreduce.append(got["allreduce_seconds"])
                print(f"round {r + 1} {name}: {statistics.median(got['step_seconds']):.2f} s/step "
                      f"({got['threads']} threads)", flush=True)
    variants = {name: {"median": statistics.median(t), "steps": t} for name, t in times.items()}
    # The machine's step for a batch of 4: the best samples per second measured here.
    base = min(variants[name]["median"] * 4 / VARIANTS[name][2] for name in variants)
    res = {
        "date": datetime.now(UTC).isoformat(timespec="minutes"), "cpu": _cpu_model(), "cores": os.cpu_count(),
        "torch": torch.__version__, "note": args.note, "steps": args.steps, "rounds": args.rounds,
        "size": args.size, "params": params, "variants": variants,
        "allreduce_s": statistics.median(allreduce) if allreduce else None,
        "machine_step_s": base,
        "estimate": {arch: estimate(base, n) for arch, n in params.items()},
        "estimate_fast_step": {"step": FAST_STEP, "rows": estimate(FAST_STEP, params["johnson paper"])},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_ddp.json").write_text(json.dumps(res, indent=1))
    (args.out / "train_ddp.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
