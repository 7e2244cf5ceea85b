"""One timed run in a fresh process (so its peak memory is its own): prints one JSON line.

    python benchmarks/worker.py IMPL SIZE ITERATIONS CONTENT STYLE

IMPL: ``atelier-fp32`` / ``atelier-bf16`` (atelier's pipeline, one scale, no stopping rule),
``reference`` (benchmarks/reference.py) or ``pastiche`` (the PyPI peer through its own command line).
Per-iteration times come from timestamps of each iteration (atelier, reference); for pastiche, which
reports none, from the difference of two runs' wall times (see run.py).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _maxrss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def square(path: str, size: int):
    from atelier import io

    return io.resize(io.load_image(path), (size, size))


def run_atelier(precision: str, size: int, iterations: int, content: str, style: str) -> dict:
    import atelier
    from atelier.events import Progress

    stamps: list[float] = []
    t0 = time.perf_counter()

    def listen(ev):
        if isinstance(ev, Progress):
            stamps.append(time.perf_counter())

    atelier.run(square(content, size), square(style, size), size=size, min_size=size, iterations=iterations,
                tolerance=0.0, precision=precision, device="cpu", callback=listen)
    times = [b - a for a, b in zip([t0, *stamps[:-1]], stamps)]
    return {"times": times[1:]}  # the first includes target computation and warm-up


def run_reference(size: int, iterations: int, content: str, style: str) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from reference import Reference

    ref = Reference(square(content, size), square(style, size))
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        ref.step()
        times.append(time.perf_counter() - t)
    return {"times": times[1:]}


def run_pastiche(size: int, iterations: int, content: str, style: str) -> dict:
    import tempfile

    import atelier

    with tempfile.TemporaryDirectory() as tmp:
        c, s = Path(tmp) / "c.png", Path(tmp) / "s.png"
        atelier.save_image(square(content, size), c)
        atelier.save_image(square(style, size), s)
        cmd = [sys.executable, "-m", "pastiche", "--device", "cpu", "--num-steps", str(iterations),
               "--size", str(size), "--style-size", str(size), "--no-verbose", "--content", str(c),
               "--styles", str(s), "--output", str(Path(tmp) / "o.png")]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t
    return {"wall": wall, "maxrss_mb": _maxrss_mb(resource.RUSAGE_CHILDREN)}


def main(argv: list[str]) -> int:
    impl, size, iterations, content, style = argv[0], int(argv[1]), int(argv[2]), argv[3], argv[4]
    if impl.startswith("atelier-"):
        from atelier.runtime import tune_allocator

        tune_allocator()  # as the atelier command line does
        out = run_atelier(impl.split("-", 1)[1], size, iterations, content, style)
    elif impl == "reference":
        out = run_reference(size, iterations, content, style)
    elif impl == "pastiche":
        out = run_pastiche(size, iterations, content, style)
    else:
        raise SystemExit(f"unknown implementation {impl!r}")
    out.setdefault("maxrss_mb", _maxrss_mb())
    print(json.dumps({"impl": impl, "size": size, "iterations": iterations, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
