"""Time to quality: how long atelier's defaults take to reach the quality of pastiche's default run.

    python benchmarks/quality.py [--pairs N] [--pastiche-steps 1000] [--out benchmarks/results]

For each content x style pair (photos from ../shared/data/registry/photos, paintings from
../shared/data/styles) pastiche runs with its defaults through its own command line (1000 L-BFGS steps at
about 500x500 pixels); its result is judged by atelier.metrics (style: sliced Wasserstein distance;
content: relative relu4_2 error) at 512 px. Then atelier runs with its defaults at the same long side,
keeping a snapshot every 10 iterations with its wall time; the first snapshot whose style and content
distances are both at most pastiche's gives atelier's time to the same quality. Reported as the ratio to
pastiche's default wall time (the target is at most 1/10). Opt-in: it needs ../shared/data and takes long.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
PAIRS = [
    ("registry/photos/tuxpaint-data__lighthouse.jpg", "styles/the_scream.jpg"),
    ("registry/photos/scikit-image__chelsea.jpg", "styles/great_wave.jpg"),
    ("registry/photos/opencv-doc__building.jpg", "styles/composition_vii.jpg"),
]


def run_pastiche(content: Path, style: Path, out: Path, steps: int, size: int | None) -> float:
    cmd = [sys.executable, "-m", "pastiche", "--device", "cpu", "--num-steps", str(steps), "--no-verbose",
           "--content", str(content), "--styles", str(style), "--output", str(out)]
    if size:  # only for smoke runs: pastiche's default is ~250 000 pixels
        cmd += ["--size", str(size)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main(argv=None) -> int:
    import atelier
    from atelier.events import Progress
    from atelier.runtime import tune_allocator

    tune_allocator()  # as the command line does

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--only", type=int, nargs="+", default=None, metavar="I",
                   help="Run only these pairs (1-based) and merge them into an existing quality.json, so a "
                        "long benchmark can be split over sessions.")
    p.add_argument("--pastiche-steps", type=int, default=1000, help="pastiche's default is 1000.")
    p.add_argument("--every", type=int, default=10, help="Snapshot interval of atelier's run.")
    p.add_argument("--size", type=int, default=None,
                   help="Smoke runs only: long side for both tools (default: each tool's own default).")
    p.add_argument("--images", type=Path, default=None, help="Also save both results here (not committed).")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    rows = []
    chosen = PAIRS[: args.pairs]
    if args.only:
        chosen = [PAIRS[i - 1] for i in args.only]
        old = args.out / "quality.json"
        rows = json.loads(old.read_text()) if old.exists() else []
    for content_rel, style_rel in chosen:
        content, style = SHARED / content_rel, SHARED / style_rel
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "pastiche.png"
            load = os.getloadavg()[0]
            p_wall = run_pastiche(content, style, out, args.pastiche_steps, args.size)
            p_img = atelier.load_image(out)
            if args.images:
                args.images.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, args.images / f"{content.stem}__{style.stem}__pastiche.png")
        p_scores = atelier.evaluate(p_img, content=content, style=style)
        p_size = tuple(p_img.shape[-2:])

        snaps: list[tuple[int, float, object]] = []
        t0 = time.perf_counter()

        def listen(ev, snaps=snaps, t0=t0):
            if isinstance(ev, Progress) and ev.iteration % args.every == 0 and ev.image is not None:
                snaps.append((ev.iteration, time.perf_counter() - t0, ev.image.clone()))

        # atelier's default settings (size 512 = long side); both results are judged at the same eval size.
        kw = {"size": args.size} if args.size else {}
        result = atelier.run(content, style, device="cpu", callback=listen, **kw)
        a_wall = time.perf_counter() - t0
        snaps.append((result.info["iterations"], a_wall, result.image))
        reached = None
        for it, sec, img in snaps:
            s = atelier.evaluate(img, content=content, style=style)
            if s["style_swd"] <= p_scores["style_swd"] and s["content"] <= p_scores["content"]:
                reached = {"iteration": it, "seconds": round(sec, 1), **s}
                break
        if args.images:
            atelier.save_image(result.image, args.images / f"{content.stem}__{style.stem}__atelier.png")
        final = atelier.evaluate(result.image, content=content, style=style)
        pair = f"{Path(content_rel).stem} x {Path(style_rel).stem}"
        rows = [r for r in rows if r["pair"] != pair]  # a re-run replaces the pair's earlier row
        rows.append({
            "pair": pair,
            "pastiche_size": p_size, "atelier_size": tuple(result.image.shape[-2:]), "load_before": load,
            "pastiche_seconds": round(p_wall, 1), "pastiche": p_scores,
            "atelier_default_seconds": round(a_wall, 1), "atelier_final": final, "atelier_reached": reached,
            "ratio_time_to_quality": None if reached is None else round(reached["seconds"] / p_wall, 3),
            "ratio_default_wall": round(a_wall / p_wall, 3),
        })
        print(json.dumps(rows[-1]), flush=True)
        write(rows, args.out)  # after every pair: a long run that is stopped keeps what it measured
    return 0


def write(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(rows, indent=2) + "\n")
    header = ("| pair | pastiche s | pastiche swd / content | atelier default s | atelier swd / content "
              "| atelier reaches pastiche at | ratio |")
    lines = [header, "|---|---:|---|---:|---|---|---:|"]
    for r in rows:
        reach = "not reached" if r["atelier_reached"] is None else (
            f"{r['atelier_reached']['seconds']} s (it {r['atelier_reached']['iteration']})")
        lines.append(f"| {r['pair']} | {r['pastiche_seconds']} | {r['pastiche']['style_swd']:.3f} / "
                     f"{r['pastiche']['content']:.3f} | {r['atelier_default_seconds']} | "
                     f"{r['atelier_final']['style_swd']:.3f} / {r['atelier_final']['content']:.3f} | {reach} | "
                     f"{r['ratio_time_to_quality']} |")
    (out / "quality.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
