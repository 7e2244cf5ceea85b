"""``atelier explain PAINTING -o DIR``: a sheet an artist can read of what the Gram style loss takes from a
painting (Gatys, Ecker & Bethge 2016, Fig. 1), and, given a finished stylisation, where its style loss
remains. Library first: :func:`explain` is what the CLI and the web's Explain view call.

Files written in DIR (each atomically; none replaced without ``overwrite``): ``sheet.jpg``;
``reconstruction-N.png`` (N = 1..5: the Gram losses of relu1_1 .. reluN_1); ``direction-LAYER-I.jpg`` (the
I-th leading direction of LAYER's Gram matrix as a heat map over the painting); with a result
``shares.png`` (each layer's share of its remaining style loss); ``explain.json`` (the numbers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import io
from ..api import provenance_record
from ..devices import resolve_device
from ..engine.optimize import RunClock
from ..errors import OptionError, OutputError
from ..events import Done, emit
from ..features import get_vgg19
from ..paths import check_input_file
from . import sheet as draw
from .analysis import LAYERS, directions, layer_distances, reconstruct, reconstruction_plan

MIN_SIZE, MAX_SIZE = 32, 1024  # long side: relu5_1 needs 16 px; above 1024 px five reconstructions take hours
# L-BFGS steps per reconstruction at the default: the whole sheet at 256 px in under 5 minutes on 2 cores
# (measured: benchmarks/results/explain.md).
DEFAULT_ITERATIONS = 50
DIRECTIONS = 3


@dataclass
class ExplainResult:
    dir: Path
    files: list[Path] = field(default_factory=list)  # every file written, sheet.jpg first
    data: dict = field(default_factory=dict)  # what explain.json holds


def planned_files(out_dir: Path, with_result: bool) -> list[Path]:
    """The files :func:`explain` writes in ``out_dir``: sheet.jpg first, explain.json last."""
    names = ["sheet.jpg", *(f"reconstruction-{n}.png" for n in range(1, len(LAYERS) + 1)),
             *(f"direction-{k}-{i}.jpg" for k in LAYERS for i in range(1, DIRECTIONS + 1))]
    return [out_dir / n for n in (*names, *(["shares.png"] if with_result else []), "explain.json")]


def check_explain(painting, out_dir, *, size: int, result=None, iterations: int = DEFAULT_ITERATIONS,
          overwrite: bool = False) -> list[Path]:
    """Every refusal of :func:`explain`, before any work, in one sentence each: the inputs exist and are
    files, ``size`` and ``iterations`` are in range, ``out_dir`` is not a file and no file it would hold
    exists (unless ``overwrite``) or is an input. Returns the planned files."""
    inputs = [check_input_file(painting, "painting")]
    if result is not None:
        inputs.append(check_input_file(result, "result image"))
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise OptionError(f"--size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, not {size!r}.")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= 10000:
        raise OptionError(f"--iterations must be a whole number from 1 to 10000, not {iterations!r}.")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"'{out_dir}' is a file, not a folder: give -o a folder for the sheet and its images.")
    files = planned_files(out_dir, result is not None)
    for f in files[:-1]:
        io.check_output_path(f, overwrite=overwrite, inputs=inputs)
    io.check_derived(files[-1:], inputs=inputs, overwrite=overwrite)  # explain.json
    return files


def explain(painting, out_dir, *, size: int = 256, result=None, iterations: int = DEFAULT_ITERATIONS,
            overwrite: bool = False, seed: int = 0, device: str = "auto", weights: str = "pretrained",
            callback=None) -> ExplainResult:
    """Write the explanation sheet of ``painting`` (a path) into ``out_dir`` at ``size`` px (long side):
    reconstructions from noise (``iterations`` L-BFGS steps each, seeded by ``seed``), the leading
    directions of each layer's Gram matrix, and with ``result`` (a finished stylisation's path) each layer's
    share of its remaining Gram distance to the painting. Progress: Stage/Progress events per
    reconstruction, then Done. ``weights='random'`` is for tests."""
    files = check_explain(painting, out_dir, size=size, result=result, iterations=iterations, overwrite=overwrite)
    t0 = time.perf_counter()
    dev = resolve_device(device)
    art = io.resize_long_side(io.load_image(painting).to(dev), size)  # (1,3,H,W)
    vgg = get_vgg19(weights=weights, device=dev)
    gen = torch.Generator().manual_seed(seed)
    clock = RunClock(reconstruction_plan(tuple(art.shape[-2:]), iterations))
    recons = reconstruct(vgg, art, iterations, generator=gen, callback=callback, clock=clock)
    with torch.no_grad():
        feats = vgg(art, LAYERS)
    heat, energy = {}, {}
    for k in LAYERS:
        maps, shares = directions(feats[k], DIRECTIONS)
        heat[k] = [draw.heat_overlay(art.cpu(), m.cpu()) for m in maps]
        energy[k] = [round(float(s), 4) for s in shares]
    data = {"painting": Path(painting).name, "size": list(art.shape[-2:]), "layers": list(LAYERS),
            "seed": seed, "weights": weights, "iterations_per_reconstruction": iterations,
            "reconstructions": [{"file": f"reconstruction-{n + 1}.png", "layers": r["layers"],
                                 "iterations": r["iterations"], "style_loss": round(r["style_loss"], 6)}
                                for n, r in enumerate(recons)],
            "directions": {k: [{"file": f"direction-{k}-{i + 1}.jpg", "energy_share": s}
                               for i, s in enumerate(energy[k])] for k in LAYERS}}
    res_img, chart = None, None
    if result is not None:
        res_img = io.resize_long_side(io.load_image(result).to(dev), size)
        with torch.no_grad():
            dist, shares = layer_distances(vgg(res_img, LAYERS), feats)
        chart = draw.share_chart(shares)
        data["result"] = {"file": Path(result).name, "gram_distance": {k: round(v, 6) for k, v in dist.items()},
                          "shares": shares}
    title = f"What the style loss takes from {Path(painting).name}"
    page = draw.compose(title, art.cpu(), recons, heat, energy, None if res_img is None else res_img.cpu(), chart)
    data["seconds"] = round(time.perf_counter() - t0, 2)
    _write(files, page, recons, heat, chart, data, painting, result, seed)
    emit(callback, Done(iterations=clock.iteration, elapsed=clock.elapsed(), losses={}))
    return ExplainResult(Path(out_dir).expanduser(), files, data)


def _write(files, page, recons, heat, chart, data, painting, result, seed) -> None:
    """Every file, each atomically (io.save_image / io.write_json), the sheet first and the JSON last."""
    by_name = {f.name: f for f in files}
    inputs = {"style": str(painting), **({"result": str(result)} if result is not None else {})}
    record = provenance_record("chart", "gatys", inputs=inputs, seed=seed)
    srcs = [painting, *([result] if result is not None else [])]
    io.save_image(page, by_name["sheet.jpg"], overwrite=True, inputs=srcs, quality=90, metadata=record)
    for n, r in enumerate(recons, 1):
        io.save_image(r["image"].cpu(), by_name[f"reconstruction-{n}.png"], overwrite=True, inputs=srcs,
                      metadata=record)
    for k, maps in heat.items():
        for i, m in enumerate(maps, 1):
            io.save_image(m, by_name[f"direction-{k}-{i}.jpg"], overwrite=True, inputs=srcs, quality=90,
                          metadata=record)
    if chart is not None:
        io.save_image(chart, by_name["shares.png"], overwrite=True, inputs=srcs, metadata=record)
    io.write_json(by_name["explain.json"], data, overwrite=True)
