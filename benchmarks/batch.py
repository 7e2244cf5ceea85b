"""Throughput of ``atelier batch``: one process, the local default (worker processes), a Dask LocalCluster.

    python benchmarks/batch.py [--parts johnson gatys] [--images 200] [--rounds 2] [--out benchmarks/results]

Photos: ``--images`` crops of ../shared/data/registry/photos (512x512, a different window of a photo for
every image), written to a temporary folder and deleted afterwards (never committed). Workloads:

- johnson: the bundled ``starry_night`` model at 512 px over ``--images`` photos (``--compile off``: see
  ``--johnson-compile``);
- gatys: 256 px over 10 photos, ``--gatys-iterations`` iterations at the final size and none at coarser ones
  (a few: the time per item scales with them; the ratios between the set-ups are what is measured).

Set-ups, each a fresh ``atelier batch`` command (start-up, worker spawn and model loading included, as a
user pays them), run in ``--rounds`` rounds in alternating order (ABC, CBA, ...) so that a change of the
machine's load spreads over all, each round over ``images / rounds`` photos:

- ``one process``: ``--workers 1`` (the batch runs in the command's process, torch's default threads);
- ``local default``: no ``--workers`` (``atelier.default_workers()`` processes, cores / N threads each);
- ``dask``: ``--scheduler`` on a fresh ``LocalCluster`` of 2 worker processes with one thread each, started
  by this script on loopback (cluster start-up not counted; the workers load their model in the run).

Reported: items per second (items / wall time of the command), the ratio to one process, and the peak
resident memory of each process that ran items (sampled every 0.1 s with psutil over the process tree).
Results: ``batch_johnson.{json,md}`` and ``batch_gatys.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PHOTOS = HERE.parent.parent / "shared" / "data" / "registry" / "photos"


def make_photos(folder: Path, n: int, side: int = 512) -> list[Path]:
    """``n`` side x side crops of the registry photos: photo i % len(photos), window moved by i // len."""
    from PIL import Image

    sources = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        with Image.open(sources[i % len(sources)]) as im:
            im = im.convert("RGB")
            scale = side * (1.2 + 0.2 * (i // len(sources) % 4)) / min(im.size)
            im = im.resize((max(side, round(im.width * scale)), max(side, round(im.height * scale))))
            k = i // len(sources)
            x, y = (k * 37) % (im.width - side + 1), (k * 53) % (im.height - side + 1)
            path = folder / f"photo{i:04d}.jpg"
            im.crop((x, y, x + side, y + side)).save(path, quality=92)
            out.append(path)
    return out


class RssSampler:
    """Peak RSS of every process in the tree of ``root`` (and of ``extra`` pids), sampled in a thread."""

    def __init__(self, root: int, extra=()):
        import psutil

        self.psutil, self.root, self.extra = psutil, root, list(extra)
        self.peak: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _procs(self):
        try:
            root = self.psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except self.psutil.NoSuchProcess:
            procs = []
        for pid in self.extra:
            try:
                procs.append(self.psutil.Process(pid))
            except self.psutil.NoSuchProcess:
                pass
        return procs

    def _run(self) -> None:
        while not self.stop.is_set():
            for p in self._procs():
                try:
                    rss = p.memory_info().rss
                except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run_setup(name: str, photos: list[Path], out: Path, args: list[str]) -> dict:
    """One ``atelier batch`` command; items/s over its wall time and the peak RSS of its workers. The Dask
    set-up gets a fresh LocalCluster (its start-up is not timed), so its workers load the model in the
    run, as the local workers do."""
    if name == "dask":
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            import psutil

            extra = [c.pid for c in psutil.Process().children(recursive=True)]
            return _timed(name, photos, out, [*args, "--scheduler", cluster.scheduler_address], extra)
    return _timed(name, photos, out, [*args, "--workers", "1"] if name == "one process" else args, [])


def _timed(name: str, photos: list[Path], out: Path, args: list[str], extra: list[int]) -> dict:
    cmd = [sys.executable, "-m", "atelier", "batch", *map(str, photos), "-o", str(out), "-q", *args]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(proc.pid, extra) as rss:
        _, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{stderr[-2000:]}")
    done = sum(1 for e in json.loads((out / "atelier-batch.json").read_text())["items"] if e["state"] == "done")
    # Processes that ran items: over 300 MB (torch, networks); the command itself in 'one process'.
    workers = [v for pid, v in rss.peak.items() if v > 300 * 2**20 and (name == "one process" or pid != proc.pid)]
    return {"setup": name, "items": done, "seconds": seconds, "items_per_second": done / seconds,
            "peak_rss_mib": [round(v / 2**20) for v in sorted(workers, reverse=True)]}


def workload(name: str, tmp: Path, images: int, gatys_iterations: int, compile_: str) -> tuple[list[Path], list[str]]:
    if name == "johnson":
        return make_photos(tmp / "johnson", images), ["--model", "starry_night", "--size", "512", "--compile",
                                                      compile_]
    photos = make_photos(tmp / "gatys", 10)
    style = tmp / "style.jpg"
    from PIL import Image

    Image.open(HERE.parent / "src" / "atelier" / "data" / "style.jpg").convert("RGB").save(style)
    return photos, ["--style", str(style), "--size", "256", "--iterations", str(gatys_iterations),
                    "--coarse-iterations", "0"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["johnson", "gatys"], choices=["johnson", "gatys"])
    p.add_argument("--images", type=int, default=200, help="Photos of the johnson workload.")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--gatys-iterations", type=int, default=20)
    p.add_argument("--johnson-compile", default="off", choices=["off", "auto", "on"],
                   help="johnson's --compile: off by default, so that the set-ups differ only in how they share "
                   "the cores (under auto each worker process compiles once, after ~10 s of eager work).")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--note", default="", help="Recorded beside the figures (e.g. 'under load').")
    a = p.parse_args(argv)
    import atelier

    setups = ["one process", "local default", "dask"]
    results = {}
    with tempfile.TemporaryDirectory(prefix="atelier-batch-bench-") as tmp:
        tmp = Path(tmp)
        for part in a.parts:
            photos, args = workload(part, tmp, a.images, a.gatys_iterations, a.johnson_compile)
            chunks = [photos[i::a.rounds] for i in range(a.rounds)]
            runs = []
            for r, chunk in enumerate(chunks):
                order = setups if r % 2 == 0 else setups[::-1]
                for name in order:
                    out = tmp / f"out-{part}-{r}-{name.replace(' ', '-')}"
                    res = run_setup(name, chunk, out, args)
                    print(f"{part} round {r}: {name}: {res['items']} items, {res['items_per_second']:.3f} items/s, "
                          f"peak RSS {res['peak_rss_mib']} MiB", flush=True)
                    runs.append({**res, "round": r})
            results[part] = summarise(runs, setups)
    info = {"measured": datetime.now(UTC).isoformat(timespec="minutes"), "cpu": cpu_model(),
            "cores": len(os.sched_getaffinity(0)), "torch_threads_one_process": "default (= cores)",
            "default_workers": atelier.default_workers(), "note": a.note, "images": a.images,
            "rounds": a.rounds, "gatys_iterations": a.gatys_iterations, "johnson_compile": a.johnson_compile, "python": platform.python_version()}
    write(a.out, info, results)
    return 0


def summarise(runs: list[dict], setups: list[str]) -> list[dict]:
    rows = []
    for name in setups:
        mine = [r for r in runs if r["setup"] == name]
        items, seconds = sum(r["items"] for r in mine), sum(r["seconds"] for r in mine)
        rows.append({"setup": name, "items": items, "seconds": round(seconds, 2),
                     "items_per_second": round(items / seconds, 3),
                     "rounds_items_per_second": [round(r["items_per_second"], 3) for r in mine],
                     "peak_rss_mib": max((r["peak_rss_mib"] for r in mine), key=lambda v: max(v or [0]))})
    ref = rows[0]["items_per_second"]
    for row in rows:
        row["ratio"] = round(row["items_per_second"] / ref, 2)
    return rows


def cpu_model() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def write(out: Path, info: dict, results: dict) -> None:
    """``batch_<part>.json`` and ``batch_<part>.md`` per workload."""
    out.mkdir(parents=True, exist_ok=True)
    titles = {"johnson": f"johnson (bundled starry_night), 512 px, {info['images']} photos, --compile "
                         f"{info['johnson_compile']}",
              "gatys": f"gatys, 256 px, 10 photos, {info['gatys_iterations']} iterations (no coarse scales)"}
    note = f" — {info['note']}" if info["note"] else ""
    for part, rows in results.items():
        (out / f"batch_{part}.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
        lines = [
            f"# atelier batch: {titles[part]}\n",
            (f"Measured {info['measured']} on {info['cpu']} ({info['cores']} cores){note}; "
             f"`python benchmarks/batch.py --parts {part}`, {info['rounds']} rounds in alternating order. Default "
             f"workers here: {info['default_workers']}. Items/s include each command's start-up, worker spawn "
             "and model loading.\n"),
            "| set-up | items | items/s | per round | ratio to one process | peak RSS per worker (MiB) |",
            "|---|---:|---:|---|---:|---|",
        ]
        for r in rows:
            lines.append(f"| {r['setup']} | {r['items']} | {r['items_per_second']:.3f} | "
                         f"{', '.join(map(str, r['rounds_items_per_second']))} | {r['ratio']:.2f} | "
                         f"{', '.join(map(str, r['peak_rss_mib']))} |")
        (out / f"batch_{part}.md").write_text("\n".join(lines) + "\n")
        print((out / f"batch_{part}.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
