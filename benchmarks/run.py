"""The performance harness: Gatys speed against the kernel limit and pastiche, time to quality, large images.

    python benchmarks/run.py [--parts speed startup quality large] [--sizes 256 512 1024] [--repeats 3]

Parts (default: all of them, about 2 hours on the 2-core machine; each in a fresh process, one after the
other, so none shares the cores with another):
- speed (~20 min): seconds per Gatys iteration at each size for atelier (fp32, bf16), the plain reference
  (benchmarks/reference.py) and pastiche's own command line. Implementations run interleaved (every repeat
  runs each once, in a fresh process), so machine noise hits them alike; medians are reported. In every
  repeat the compute limit of an iteration is measured from kernel micro-benchmarks (benchmarks/limit.py),
  so each time is also a multiple of the limit. Results: ``speed.json`` and ``speed.md``.
- startup (~2 min): benchmarks/startup.py.
- quality (~1.5 h): benchmarks/quality.py, atelier's defaults against pastiche's default run on three pairs.
- large (~10 min): benchmarks/large.py with 5 coarse and 3 final iterations (memory, seams, dry-run).
Then benchmarks/summary.py collects every part's JSON into ``performance.md``, target by target.
Compare ratios taken in one run; absolute seconds drift with the machine's load.
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

IMPLS = ("atelier-fp32", "atelier-bf16", "reference", "pastiche")


def worker(impl: str, size: int, iterations: int, content: str, style: str) -> dict:
    cmd = [sys.executable, str(HERE / "worker.py"), impl, str(size), str(iterations), content, style]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(impl: str, size: int, iterations: int, content: str, style: str) -> tuple[float, float]:
    """(seconds per iteration, peak RSS MiB) of one repeat."""
    if impl == "pastiche":
        # No per-iteration output: the difference of a short and a long run cancels start-up and targets.
        short = worker(impl, size, 2, content, style)
        long = worker(impl, size, 2 + iterations, content, style)
        return (long["wall"] - short["wall"]) / iterations, long["maxrss_mb"]
    r = worker(impl, size, iterations + 1, content, style)
    return statistics.median(r["times"]), r["maxrss_mb"]


PARTS = {  # part -> command line of its benchmark (the speed part runs in this process)
    "startup": ["startup.py"],
    "quality": ["quality.py"],
    "large": ["large.py", "--coarse-iterations", "5", "--iterations", "3"],
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", choices=["speed", *PARTS], default=["speed", *PARTS])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--iterations", type=int, default=6, help="Timed iterations per repeat.")
    p.add_argument("--no-pastiche", action="store_true", help="Skip the peer (if it is not installed).")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    from summary import summarize

    for part in args.parts:
        print(f"== {part}", file=sys.stderr, flush=True)
        if part == "speed":
            speed(args)
        else:
            subprocess.run([sys.executable, str(HERE / PARTS[part][0]), *PARTS[part][1:], "--out", str(args.out)],
                           check=True)
    summarize(args.out)
    print(f"summary: {args.out / 'performance.md'}", file=sys.stderr)
    return 0


def speed(args: argparse.Namespace) -> None:
    from limit import iteration_limit

    import atelier

    content, style = (str(x) for x in atelier.default_inputs())
    impls = [i for i in IMPLS if not (args.no_pastiche and i == "pastiche")]

    results = []
    for size in args.sizes:
        samples: dict[str, list[tuple[float, float]]] = {i: [] for i in impls}
        limit_runs: dict[str, list[dict]] = {"fp32": [], "bf16": []}
        for _ in range(args.repeats):
            for impl in impls:
                samples[impl].append(measure(impl, size, args.iterations, content, style))
            # The limit is measured in every repeat too, so it sees the same machine as the runs beside it.
            for prec, runs in limit_runs.items():
                runs.append(iteration_limit(size, precision=prec))
        limits = {prec: {"seconds": statistics.median(r["seconds"] for r in runs), "gflop": runs[0]["gflop"]}
                  for prec, runs in limit_runs.items()}
        ref = statistics.median(s for s, _ in samples["reference"])
        for impl in impls:
            sec = statistics.median(s for s, _ in samples[impl])
            lim = limits["bf16" if impl.endswith("bf16") else "fp32"]["seconds"]
            results.append({
                "size": size, "impl": impl, "seconds_per_iteration": round(sec, 4),
                "x_limit": round(sec / lim, 3), "speedup_vs_reference": round(ref / sec, 3),
                "peak_rss_mib": round(max(m for _, m in samples[impl])),
                "samples": [round(s, 4) for s, _ in samples[impl]],
            })
        for prec, lim in limits.items():
            results.append({"size": size, "impl": f"limit-{prec}", "seconds_per_iteration": round(lim["seconds"], 4),
                            "x_limit": 1.0, "gflop": round(lim["gflop"], 1)})
        print(f"{size} px done", file=sys.stderr, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": __import__("torch").__version__,
            "threads": __import__("torch").get_num_threads(), "repeats": args.repeats,
            "iterations": args.iterations}
    (args.out / "speed.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    table = to_markdown(results)
    (args.out / "speed.md").write_text(f"Measured {meta['date']}, torch {meta['torch']}, {meta['threads']} threads, "
                                       f"median of {args.repeats} interleaved repeats.\n\n{table}\n")
    print(table)


def to_markdown(results: list[dict]) -> str:
    lines = ["| size | implementation | s / iteration | × limit | speed-up vs reference | peak RSS MiB |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['size']} | {r['impl']} | {r['seconds_per_iteration']:.3f} | {r['x_limit']:.2f} | "
                     f"{r.get('speedup_vs_reference', ''):} | {r.get('peak_rss_mib', '')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
