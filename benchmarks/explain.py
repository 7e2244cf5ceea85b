"""``atelier explain`` against its budget: the whole sheet at 256 px in at most 5 minutes on 2 cores.

    OMP_NUM_THREADS=2 nice -n 19 python benchmarks/explain.py [--size 256] [--iterations 50] [--out DIR]

Runs ``atelier.explain`` on the bundled painting with the bundled photo as the result (real VGG-19 weights,
fp32, CPU) and prints the wall and CPU seconds (this process, all threads) at every stage, then in total.
On a shared machine the wall time is what the other jobs leave; CPU seconds / threads is the wall time the
same work would take on free cores. Results: benchmarks/results/explain.md.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv=None) -> int:
    import torch

    import atelier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--iterations", type=int, default=None, help="default: the library's")
    p.add_argument("--out", type=Path, default=None, help="keep the sheet here (default: a temporary folder)")
    args = p.parse_args(argv)
    photo, painting = atelier.default_inputs()
    print(f"CPU: {cpu_model()}; torch threads: {torch.get_num_threads()}", flush=True)
    t0, c0 = time.perf_counter(), cpu_seconds()

    def on_event(e):
        if isinstance(e, atelier.events.Stage):
            print(f"{e.name} {e.size[1]}x{e.size[0]}: wall {time.perf_counter() - t0:.0f} s, "
                  f"cpu {cpu_seconds() - c0:.0f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        extra = {} if args.iterations is None else {"iterations": args.iterations}
        res = atelier.explain(painting, args.out or Path(tmp) / "sheet", size=args.size, result=photo,
                              overwrite=True, device="cpu", callback=on_event, **extra)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    print(f"total: wall {wall:.0f} s, cpu {cpu:.0f} s ({cpu / torch.get_num_threads():.0f} s per thread), "
          f"{res.data['iterations_per_reconstruction']} steps per reconstruction, size {res.data['size']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
