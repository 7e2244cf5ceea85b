"""Quality per second of ``--refine N`` (a one-pass result continued by N Gatys iterations) against the
default Gatys run, on the held-out protocol of ``arbitrary_eval.py``.

    python benchmarks/refine.py [--adain NAME|PATH] [--size 256] [--pairs 5] [--steps 10 25 50]

Per (photo, unseen painting) pair: style sliced-Wasserstein and content distances (``atelier.evaluate``),
the grid measure and wall time of adain alone, adain + ``--refine N`` and the default Gatys result (cached,
shared with the other evals). Results: ``results/refine.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary_eval import UNSEEN_STYLES
from grid_diagnosis import cpu_model
from johnson_eval import HELD_OUT, SHARED, gatys_reference


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adain", default="adain")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50])
    p.add_argument("--cache", default="/tmp/atelier-eval-cache")
    p.add_argument("--out", default=str(HERE / "results" / "refine"))
    args = p.parse_args()

    import atelier
    from atelier.metrics import grid_ratio
    from atelier.runtime import tune_allocator

    tune_allocator()
    rows = []
    for i, name in enumerate(HELD_OUT[: args.pairs]):
        photo = SHARED / "registry" / "photos" / name
        style = SHARED / "styles" / UNSEEN_STYLES[i % len(UNSEEN_STYLES)]
        ref, ref_seconds = gatys_reference(photo, style, args.size, Path(args.cache))
        runs = {"gatys default": (atelier.load_image(ref), ref_seconds)}
        for n in [0, *args.steps]:
            prepared = atelier.prepare("adain", {"model": args.adain, "size": args.size}, n_styles=1, refine=n)
            t = time.perf_counter()
            out = atelier.run(photo, style, prepared=prepared, device="cpu").image
            runs["adain" if n == 0 else f"adain --refine {n}"] = (out, time.perf_counter() - t)
        content = atelier.load_image(photo)
        for kind, (out, seconds) in runs.items():
            m = atelier.evaluate(out, content=photo, style=style, size=args.size)
            rows.append({"photo": name, "style": style.name, "kind": kind, "seconds": seconds,
                         "style_swd": m["style_swd"], "content": m["content"], "grid": grid_ratio(out, content)})
            print(f"{name:40s} {kind:18s} {seconds:6.1f} s  swd {m['style_swd']:.3f}  content {m['content']:.3f}"
                  f"  grid {rows[-1]['grid']:.2f}", flush=True)

    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    mean = {k: {m: statistics.fmean(r[m] for r in rows if r["kind"] == k)
                for m in ("seconds", "style_swd", "content", "grid")} for k in kinds}
    g = mean["gatys default"]
    title = f"# --refine N against the default Gatys run ({args.size} px, {args.pairs} pairs; {cpu_model()})"
    lines = [title, "", "`python benchmarks/refine.py`; ratios are to the default Gatys result.", "",
             "| run | s | style SWD | content | grid | SWD / Gatys | content / Gatys | time / Gatys |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {k} | {v['seconds']:.1f} | {v['style_swd']:.3f} | {v['content']:.3f} | {v['grid']:.2f} | "
              f"{v['style_swd'] / g['style_swd']:.2f} | {v['content'] / g['content']:.2f} | "
              f"{v['seconds'] / g['seconds']:.3f} |" for k, v in mean.items()]
    out = Path(args.out)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"mean": mean, "rows": rows}, indent=1), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
