"""Large output: a 3840x2160 image through the default pipeline, its peak memory, time and seam error.

    python benchmarks/large.py [--coarse-iterations 50] [--iterations 100] [--precision fp32]

The content is a registry photo upscaled to 3840x2160 (in a temporary folder), the style the bundled
painting. Reports the dry-run estimate next to the measured wall time and peak RSS, and the seam error of
the final scale's tiles: the mean absolute step between neighbouring pixels across tile-core borders,
divided by the same statistic over all neighbouring pixels (1.0 = a border looks like anywhere else).
Use fewer iterations for a quick check of memory and per-iteration time: the full default takes hours.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def seam_ratio(image: torch.Tensor, tile: int) -> float:
    """(1,3,H,W): mean |step| across tile borders / mean |step| everywhere (rows and columns)."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))  # (H-1,) step below row i
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # (W-1,)
    rows = [i - 1 for i in range(tile, image.shape[-2], tile)]
    cols = [j - 1 for j in range(tile, image.shape[-1], tile)]
    border = torch.cat([dy[rows], dx[cols]]).mean()
    return float(border / torch.cat([dy, dx]).mean())


def main(argv=None) -> int:
    import atelier
    from atelier import io

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--coarse-iterations", type=int, default=50)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--photo", default=str(HERE.parent.parent / "shared/data/registry/photos/"
                                          "tuxpaint-data__sun_behind_leaves.jpg"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    content = io.resize(io.load_image(args.photo), (2160, 3840))
    style = atelier.default_inputs()[1]
    opts = {"size": 3840, "coarse_iterations": args.coarse_iterations, "iterations": args.iterations,
            "precision": args.precision, "device": "cpu"}
    est = atelier.estimate(content, style, **opts)
    t = time.perf_counter()
    result = atelier.run(content, style, **opts)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (ru_maxrss in KiB)
    final = result.info["stages"][-1]
    report = {
        "size": [3840, 2160], "options": opts, "wall_seconds": round(wall, 1),
        "estimated_seconds": round(est["seconds"], 1), "peak_rss_gib": round(peak, 2),
        "estimated_peak_gib": round(est["peak_bytes"] / 2**30, 2), "tile": final.get("tile"),
        "seam_ratio": None if not final.get("tile") else round(seam_ratio(result.image, final["tile"]), 3),
        "stages": [{k: s[k] for k in ("size", "iterations", "seconds", "tile")} for s in result.info["stages"]],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "large.json").write_text(json.dumps(report, indent=2) + "\n")
    io.save_image(result.image, args.out / "large.jpg", overwrite=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
