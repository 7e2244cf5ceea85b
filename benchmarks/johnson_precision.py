"""bf16 against fp32 inference of the bundled Johnson models: is bf16 good enough to be the default?

    python benchmarks/johnson_precision.py [--size 512]

Every bundled model on the five held-out photos of ``johnson_eval.py``, once in fp32 and once in bf16
(eager, no compile): mean absolute pixel difference, and the metrics module's style (SWD) and content
distances of both outputs; the relative change of the means is what the default depends on (issue 4's rule
for the optimiser: within 2 %). Results: ``results/johnson_precision.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from johnson_eval import HELD_OUT, SHARED


def main(argv=None) -> int:
    import atelier
    from atelier.weights import list_models

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    rows = []
    for info in list_models():
        if not info.bundled or info.method != "johnson":
            continue
        style = SHARED / "styles" / info.card["style"]
        for name in HELD_OUT:
            photo = SHARED / "registry" / "photos" / name
            outs = {prec: atelier.run(photo, method="johnson", model=info.name, size=args.size,
                                      precision=prec, compile="off", device="cpu").image for prec in ("fp32", "bf16")}
            metrics = {prec: atelier.evaluate(y, content=photo, style=style, size=args.size) for prec, y in outs.items()}
            rows.append({"model": info.name, "photo": name,
                         "mean_abs_diff": float((outs["fp32"] - outs["bf16"]).abs().mean()),
                         **{f"{k}_{prec}": metrics[prec][k] for prec in outs for k in ("style_swd", "content")}})
    lines = [f"bf16 vs fp32 inference of the bundled models, {args.size} px, five held-out photos each.", "",
             "| model | mean abs pixel diff | style SWD fp32 | bf16 | change | content fp32 | bf16 | change |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        rs = [r for r in rows if r["model"] == model]
        m = {k: statistics.fmean(r[k] for r in rs) for k in rs[0] if k not in ("model", "photo")}
        ds, dc = m["style_swd_bf16"] / m["style_swd_fp32"] - 1, m["content_bf16"] / m["content_fp32"] - 1
        summary[model] = {**m, "style_change": ds, "content_change": dc}
        lines.append(f"| {model} | {m['mean_abs_diff']:.4f} | {m['style_swd_fp32']:.4f} | {m['style_swd_bf16']:.4f} "
                     f"| {ds:+.2%} | {m['content_fp32']:.4f} | {m['content_bf16']:.4f} | {dc:+.2%} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "johnson_precision.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    (args.out / "johnson_precision.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
