"""Which WCT levels to run by default: style and content distance per level set, against Gatys.

    python benchmarks/wct_levels.py --wct W.safetensors [--size 256] [--levels 5,4,3,2,1 4,3,2,1 ...]

On the protocol of ``arbitrary_eval.py`` (three unseen paintings x five held-out photos) each level set runs
``--method wct`` and is judged by ``atelier.evaluate``; the Gatys metrics of each pair come from
``results/arbitrary_eval.json`` (the default Gatys result is deterministic, see ``--reuse-gatys`` there).
Reported: mean style SWD, content, grid measure, their ratios to Gatys, and seconds per image.
Results: ``wct_levels.json`` and ``wct_levels.md`` in ``--out``.
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
from arbitrary import cpu_model
from arbitrary_eval import UNSEEN_STYLES, previous_gatys
from johnson_eval import HELD_OUT, SHARED


def main(argv=None) -> int:
    import atelier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wct", type=Path, required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--levels", nargs="+", default=["5,4,3,2,1", "4,3,2,1", "3,2,1"])
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    known = previous_gatys(json.loads((HERE / "results" / "arbitrary_eval.json").read_text()), args.size)
    rows = []
    for levels in args.levels:
        per = []
        for style_name in UNSEEN_STYLES:
            for name in HELD_OUT:
                photo, style = SHARED / "registry" / "photos" / name, SHARED / "styles" / style_name
                t = time.perf_counter()
                out = atelier.run(photo, style, method="wct", model=str(args.wct), size=args.size, device="cpu",
                                  levels=[int(x) for x in levels.split(",")]).image
                seconds = time.perf_counter() - t
                m = atelier.evaluate(out, content=photo, style=style, size=args.size)
                g = known[(name, style_name)][0]
                per.append({"swd": m["style_swd"], "content": m["content"], "grid": m["grid"],
                            "g_swd": g["style_swd"], "g_content": g["content"], "g_grid": g["grid"], "s": seconds})
        mean = {k: statistics.fmean(r[k] for r in per) for k in per[0]}
        rows.append({"levels": levels, **{k: round(v, 4) for k, v in mean.items()},
                     "swd_ratio": round(mean["swd"] / mean["g_swd"], 3),
                     "content_ratio": round(mean["content"] / mean["g_content"], 3),
                     "grid_ratio": round(mean["grid"] / mean["g_grid"], 3)})
        print(rows[-1], flush=True)
    lines = [f"# WCT level sets, {args.size} px, 3 unseen paintings x 5 held-out photos ({cpu_model()})", "",
             f"Model: {args.wct.name}. Ratios are to the default Gatys result of each pair.", "",
             "| levels | style SWD | content | grid | SWD / Gatys | content / Gatys | grid / Gatys | s per image |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['levels']} | {r['swd']:.3f} | {r['content']:.3f} | {r['grid']:.2f} | {r['swd_ratio']} | "
                     f"{r['content_ratio']} | {r['grid_ratio']} | {r['s']:.2f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wct_levels.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "wct_levels.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
