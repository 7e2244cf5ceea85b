"""Very large images through a feed-forward model: an 8K output's peak memory, time and seams.

    python benchmarks/feedforward_large.py --model NAME|PATH [--out benchmarks/results]

1. 7680x4320: a registry photo upscaled to 8K goes through ``atelier.run(..., method="johnson")`` with
   the default memory budget (``--max-memory`` 4 GiB) in a fresh process; reported: wall time, the
   process's peak RSS (everything: Python, torch, the 8K input, output and tiles), the tile plan and the
   seam ratio: the mean absolute step between neighbouring pixels across every tile edge divided by the
   same statistic over all neighbouring pixels (1.0 = a tile edge looks like anywhere else).
2. Tiled against untiled at 1920x1080 (tiles forced to 512 px): mean and max absolute difference, and the
   seam ratio of both at the same positions: what tiling changes where the untiled result is the truth.

Results: ``feedforward_large.json`` (and printed).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
PHOTO = HERE.parent.parent / "shared/data/registry/photos/tuxpaint-data__sun_behind_leaves.jpg"


def edge_ratio(image: torch.Tensor, rows: list[int], cols: list[int]) -> float:
    """(1,3,H,W): mean |step| between pixel i-1 and i for i in rows/cols, over the mean |step| anywhere."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))  # (H-1,): step into row i+1
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # (W-1,)
    border = torch.cat([dy[[r - 1 for r in rows]], dx[[c - 1 for c in cols]]]).mean()
    return float(border / torch.cat([dy, dx]).mean())


def tile_edges(h: int, w: int, tile: int, overlap: int) -> tuple[list[int], list[int]]:
    """Rows and columns where some tile of ``run_blended`` starts or ends (inside the image)."""
    from atelier.methods.johnson.method import ALIGN
    from atelier.ops.tiling import blend_spans

    def edges(length):
        spans = blend_spans(length, tile, overlap, ALIGN)
        return sorted({s for s, _ in spans[1:]} | {e for _, e in spans[:-1]})

    return edges(h), edges(w)


def child(model: str, out: Path) -> None:
    """Run the 8K case in this (fresh) process and write its figures to ``out``."""
    import atelier
    from atelier import io
    from atelier.runtime import tune_allocator

    tune_allocator()
    content = io.resize(io.load_image(PHOTO), (4320, 7680))
    t = time.perf_counter()
    result = atelier.run(content, method="johnson", model=model, device="cpu")
    wall = time.perf_counter() - t
    info = result.info
    rows, cols = tile_edges(4320, 7680, info["tile"], info["overlap"]) if info["tile"] else ([], [])
    report = {"size": [7680, 4320], "wall_seconds": round(wall, 2), "tiles": info["tiles"], "tile": info["tile"],
              "overlap": info["overlap"],
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
              "seam_ratio": round(edge_ratio(result.image, rows, cols), 3) if rows or cols else None}
    out.write_text(json.dumps(report))


def tiled_vs_untiled(model: str) -> dict:
    import atelier
    from atelier import io

    content = io.resize(io.load_image(PHOTO), (1080, 1920))
    whole = atelier.run(content, method="johnson", model=model, device="cpu").image
    tiled_run = atelier.run(content, method="johnson", model=model, device="cpu", tile=512)
    tiled = tiled_run.image
    rows, cols = tile_edges(1080, 1920, 512, tiled_run.info["overlap"])
    diff = (tiled - whole).abs()
    return {"size": [1920, 1080], "tile": 512, "tiles": tiled_run.info["tiles"],
            "mean_abs_diff": round(float(diff.mean()), 5), "max_abs_diff": round(float(diff.max()), 4),
            "seam_ratio_tiled": round(edge_ratio(tiled, rows, cols), 3),
            "seam_ratio_untiled_same_places": round(edge_ratio(whole, rows, cols), 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.model, args.child)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / ".feedforward_large_child.json"
    subprocess.run([sys.executable, __file__, "--model", args.model, "--child", str(tmp)], check=True)
    report = {"8k": json.loads(tmp.read_text()), "tiled_vs_untiled": tiled_vs_untiled(args.model),
              "model": args.model, "torch": torch.__version__, "threads": torch.get_num_threads()}
    tmp.unlink()
    (args.out / "feedforward_large.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
