"""The performance summary: every figure of the speed issue's targets, read from the benchmarks' JSON results.

    python benchmarks/summary.py [--results benchmarks/results]

Reads speed.json (run.py), quality.json (quality.py), large.json (large.py) and startup.json (startup.py)
and writes ``performance.md``: one line per target with the measured figure and whether it is met. A part
that has not been run is listed as missing, never guessed. ``python benchmarks/run.py --parts all`` runs
every part and then this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The targets of the speed issue (multiples of the kernel limit; fractions of pastiche's wall time; ...).
FP32_X_LIMIT, BF16_X_LIMIT = 1.15, 1.20
TIME_RATIO = 0.10
LARGE_PEAK_GIB, ESTIMATE_ERROR, SEAM_RATIO = 12.0, 0.30, 1.2


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def speed_lines(speed: dict | None) -> list[str]:
    if speed is None:
        return ["- per-iteration speed: not measured (`python benchmarks/run.py --parts speed`)"]
    by = {(r["size"], r["impl"]): r for r in speed["results"]}
    out = [(f"Per Gatys iteration ({speed['meta']['date']}, median of {speed['meta']['repeats']} interleaved "
           "repeats; × limit = multiple of the kernel limit measured in the same run):"), "",
           "| size | atelier fp32 | atelier bf16 | reference | pastiche | limit fp32 / bf16 | atelier fp32 peak RSS |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sorted({s for s, _ in by}):
        def cell(impl, size=size):
            r = by.get((size, impl))
            return "—" if r is None else f"{r['seconds_per_iteration']:.3f} s ({r['x_limit']:.2f}×)"
        lim = " / ".join(f"{by[(size, f'limit-{p}')]['seconds_per_iteration']:.3f} s" for p in ("fp32", "bf16"))
        rss = by.get((size, "atelier-fp32"), {}).get("peak_rss_mib", "—")
        out.append(f"| {size} | {cell('atelier-fp32')} | {cell('atelier-bf16')} | {cell('reference')} | "
                   f"{cell('pastiche')} | {lim} | {rss} MiB |")
    out.append("")
    for impl, target in (("atelier-fp32", FP32_X_LIMIT), ("atelier-bf16", BF16_X_LIMIT)):
        r = by.get((512, impl))
        if r is not None:
            out.append(f"- {impl} at 512 px: {r['x_limit']:.2f}× the limit (target ≤ {target}×): "
                       f"{_mark(r['x_limit'] <= target)}")
    return out


def quality_lines(rows: list | None) -> list[str]:
    if not rows:
        return ["- time to pastiche's quality: not measured (`python benchmarks/quality.py`)"]
    out = []
    for r in rows:
        reached = r["atelier_reached"]
        final, ref = r["atelier_final"], r["pastiche"]
        at_least = final["style_swd"] <= ref["style_swd"] and final["content"] <= ref["content"]
        if reached is None:
            out.append(f"- {r['pair']}: atelier's default never reached pastiche's quality: **not met**")
            continue
        ok = r["ratio_time_to_quality"] <= TIME_RATIO and r["ratio_default_wall"] <= TIME_RATIO and at_least
        out.append(
            f"- {r['pair']}: pastiche's default {r['pastiche_seconds']:.0f} s (swd {ref['style_swd']:.3f}, content "
            f"{ref['content']:.3f}); atelier reached it after {reached['seconds']} s "
            f"(**{r['ratio_time_to_quality']}** of pastiche's time) and its whole default run took "
            f"{r['atelier_default_seconds']:.0f} s ({r['ratio_default_wall']}) ending at swd "
            f"{final['style_swd']:.3f}, content {final['content']:.3f} (target ≤ {TIME_RATIO} with at least "
            f"pastiche's quality): {_mark(ok)}")
    return out


def large_lines(large: dict | None) -> list[str]:
    if large is None:
        return ["- 3840x2160: not measured (`python benchmarks/large.py`)"]
    err = (large["estimated_seconds"] - large["wall_seconds"]) / large["wall_seconds"]
    mem_err = (large["estimated_peak_gib"] - large["peak_rss_gib"]) / large["peak_rss_gib"]
    o = large["options"]
    return [
        (f"- 3840x2160 ({o['coarse_iterations']} coarse / {o['iterations']} final iterations, {o['precision']}): "
        f"peak {large['peak_rss_gib']} GiB (target ≤ {LARGE_PEAK_GIB}): {_mark(large['peak_rss_gib'] <= LARGE_PEAK_GIB)}; "
        f"wall {large['wall_seconds']:.0f} s"),
        (f"- its `--dry-run` estimate: {large['estimated_seconds']:.0f} s ({err:+.0%}) and {large['estimated_peak_gib']} "
        f"GiB ({mem_err:+.0%}) (target within {ESTIMATE_ERROR:.0%}): "
        f"{_mark(abs(err) <= ESTIMATE_ERROR and abs(mem_err) <= ESTIMATE_ERROR)}"),
        (f"- seam ratio {large['seam_ratio']} (1.0 = tile borders as rough as the rest; we call ≤ {SEAM_RATIO} "
        f"invisible): {_mark(large['seam_ratio'] is not None and large['seam_ratio'] <= SEAM_RATIO)}"),
    ]


def startup_lines(startup: dict | None) -> list[str]:
    if startup is None:
        return ["- start-up: not measured (`python benchmarks/startup.py`)"]
    return ["- start-up (median wall time of fresh processes): "
            + "; ".join(f"{k} {v['median_s']} s" for k, v in startup.items())]


def summarize(results: Path) -> str:
    text = "\n".join([
        "# Performance summary", "",
        ("Generated by `python benchmarks/summary.py` from the JSON results beside this file; the commands that "
        "measured them are named per part. 2-core CPU, torch's CPU build."), "",
        "## Speed", "", *speed_lines(_load(results / "speed.json")), "",
        "## Time to pastiche's quality (default run at 512 px)", "", *quality_lines(_load(results / "quality.json")),
        "", "## Large images", "", *large_lines(_load(results / "large.json")), "",
        "## Start-up", "", *startup_lines(_load(results / "startup.json")), "",
    ])
    (results / "performance.md").write_text(text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=HERE / "results")
    print(summarize(p.parse_args(argv).results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
