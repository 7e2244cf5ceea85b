"""The methods of before CNNs (issue 18): speed against their targets, texture quality, transfer quality.

    python benchmarks/classical.py [--parts speed textures transfer] [--repeats 2] [--out benchmarks/results]
                                   [--cache DIR]

* ``speed``: each target of the issue, median of ``--repeats`` warm runs (one warm-up first), fp32, through
  the public API: efros_leung 128x128 from a 96x96 sample; quilting 512x512 texture and a 512 px transfer;
  portilla_simoncelli 256x256 colour texture; sparse and elad_milanfar 512 px transfers. Ratios are to the
  target (< 1 meets it).
* ``textures``: TEXTURES (eight registry textures and two registry paintings), each sample cropped to a
  centred square of SAMPLE px and synthesised at SAMPLE x SAMPLE by every texture method (gatys = Gatys 2015 with its
  defaults): style distances of the texture to its sample (Gram, sliced Wasserstein; ``atelier.metrics``)
  and the copy measure (share of 8x8 output patches found verbatim in the sample; quilting and
  efros_leung copy by design). The sample is resized once here and the methods get ``sample_size=0`` so the
  copy measure compares at the scale they worked at.
* ``transfer``: PAIRS (five held-out photos x five paintings) at TRANSFER_SIZE px: style (SWD, Gram) and
  content distances of each classical method next to the default Gatys result (cached in ``--cache``), and
  seconds.

Results: ``classical_<part>.json`` and ``.md`` in ``--out``, with ``lscpu``'s model name. Run it on an idle
machine: every number is a wall time or is computed beside one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from arbitrary import cpu_model
from johnson_eval import SHARED, gatys_reference

PHOTOS = SHARED / "registry" / "photos"
TEXTURES = [PHOTOS / f"tuxpaint-data__{n}.jpg" for n in (
    "burnt_bark", "mossy_bark", "rocks", "mudstone", "ocean_waves", "cliff", "redwoods_above", "corn_maze")] + [
    SHARED / "registry" / "starry_night__opencv-doc.jpg", SHARED / "registry" / "the_kiss__visp-images-data.png"]
SAMPLE = 128
PAIRS = [
    ("matplotlib__grace_hopper.jpg", "the_scream.jpg"), ("scikit-image__chelsea.jpg", "great_wave.jpg"),
    ("opencv-doc__fruits.jpg", "starry_night.jpg"), ("tuxpaint-data__lighthouse.jpg", "composition_vii.jpg"),
    ("lomiri-wallpapers-16.04__Bridge_by_Sander_Klootwijk.jpg", "water_lilies.jpg"),
]
TRANSFER_SIZE = 256
TRANSFER_METHODS = ["quilting", "portilla_simoncelli", "sparse", "elad_milanfar"]
# (label, seconds target, what runs): texture(method, sample px, output (H, W)) or transfer(method, size)
SPEED = [
    ("efros_leung texture 128 from 96", 30.0, ("texture", "efros_leung", 96, (128, 128))),
    ("quilting texture 512", 5.0, ("texture", "quilting", 256, (512, 512))),
    ("quilting transfer 512", 20.0, ("transfer", "quilting", 512)),
    ("portilla_simoncelli texture 256", 120.0, ("texture", "portilla_simoncelli", 256, (256, 256))),
    ("sparse transfer 512", 120.0, ("transfer", "sparse", 512)),
    ("elad_milanfar transfer 512", 120.0, ("transfer", "elad_milanfar", 512)),
]


def load(path: Path, long_side: int | None = None) -> torch.Tensor:
    import atelier

    return atelier.load_image(path, long_side=long_side)


def square(image: torch.Tensor, side: int) -> torch.Tensor:
    """The centred side x side crop of ``image`` resized so its short side is ``side`` (Portilla-Simoncelli's
    four scales need 112 px on both sides)."""
    from atelier import io

    h, w = image.shape[-2:]
    image = io.resize(image, (max(side, round(h * side / min(h, w))), max(side, round(w * side / min(h, w)))))
    h, w = image.shape[-2:]
    top, left = (h - side) // 2, (w - side) // 2
    return image[..., top:top + side, left:left + side].contiguous()


def texture_options(method: str) -> dict:
    """Options that make a method synthesise from the sample exactly as given (resized by the caller)."""
    import dataclasses

    import atelier

    names = {f.name for f in dataclasses.fields(atelier.method_spec(method).config_class)}
    return {"sample_size": 0} if "sample_size" in names else {}


def run_speed(repeats: int) -> list[dict]:
    import atelier

    photo, painting = load(PHOTOS / "opencv-doc__fruits.jpg"), load(SHARED / "styles" / "starry_night.jpg")
    rows = []
    for label, target, job in SPEED:
        if job[1] not in atelier.list_methods():
            rows.append({"case": label, "target_s": target, "seconds": None, "note": "method not installed"})
            continue
        if job[0] == "texture":
            sample = load(TEXTURES[2], job[2])

            def once(job=job, sample=sample):
                return atelier.run_texture(sample, method=job[1], size=job[3], device="cpu",
                                           **texture_options(job[1]))
        else:

            def once(job=job):
                return atelier.run(photo, painting, method=job[1], size=job[2], device="cpu")
        once()  # warm-up: imports, caches, first-call allocations
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            once()
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        rows.append({"case": label, "target_s": target, "seconds": round(med, 2), "x_target": round(med / target, 3),
                     "runs": [round(t, 2) for t in times]})
        print(f"{label}: {med:.2f} s (target {target:.0f} s)", flush=True)
    return rows


def run_textures() -> list[dict]:
    import atelier
    from atelier.metrics import copy_fraction, evaluate

    methods = [m for m in atelier.list_methods() if atelier.method_spec(m).capabilities.texture]
    rows = []
    for path in TEXTURES:
        sample = square(load(path), SAMPLE)
        for method in methods:
            t = time.perf_counter()
            out = atelier.run_texture(sample, method=method, size=SAMPLE, device="cpu", **texture_options(method))
            seconds = time.perf_counter() - t
            m = evaluate(out.image, style=sample, size=None)
            rows.append({"sample": path.name, "method": method, "style_gram": round(m["style_gram"], 4),
                         "style_swd": round(m["style_swd"], 4), "copy": round(copy_fraction(out.image, sample), 3),
                         "seconds": round(seconds, 2)})
            print(rows[-1], flush=True)
    return rows


def run_transfer(cache: Path) -> list[dict]:
    import atelier
    from atelier.metrics import evaluate

    rows = []
    for photo_name, style_name in PAIRS:
        photo, style = PHOTOS / photo_name, SHARED / "styles" / style_name
        ref, ref_s = gatys_reference(photo, style, TRANSFER_SIZE, cache)
        base = evaluate(ref, content=photo, style=style, size=TRANSFER_SIZE)
        rows.append({"pair": f"{photo.stem} x {style.stem}", "method": "gatys", "seconds": ref_s,
                     **{k: round(base[k], 4) for k in ("style_swd", "style_gram", "content")}})
        for method in TRANSFER_METHODS:
            if method not in atelier.list_methods():
                continue
            t = time.perf_counter()
            res = atelier.run(photo, style, method=method, size=TRANSFER_SIZE, device="cpu")
            seconds = time.perf_counter() - t
            m = evaluate(res.image, content=photo, style=style, size=TRANSFER_SIZE)
            rows.append({"pair": f"{photo.stem} x {style.stem}", "method": method, "seconds": round(seconds, 2),
                         **{k: round(m[k], 4) for k in ("style_swd", "style_gram", "content")},
                         "swd_x_gatys": round(m["style_swd"] / base["style_swd"], 3),
                         "content_x_gatys": round(m["content"] / base["content"], 3)})
            print(rows[-1], flush=True)
    return rows


def means(rows: list[dict], by: str, keys: tuple[str, ...]) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r[by], []).append(r)
    return [{by: g, **{k: round(statistics.mean(r[k] for r in rs if r.get(k) is not None), 4)
                       for k in keys if any(r.get(k) is not None for r in rs)}} for g, rs in groups.items()]


def table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "runs"))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if r.get(c) is None else str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", default=["speed", "textures", "transfer"],
                   choices=["speed", "textures", "transfer"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--cache", type=Path, default=None, help="Where Gatys results are kept (default: shared with "
                   "johnson_eval.py and arbitrary_eval.py, $ATELIER_HOME/bench).")
    args = p.parse_args(argv)
    if args.cache is None:
        from atelier.paths import atelier_home

        args.cache = atelier_home() / "bench"
    cpu, threads = cpu_model(), torch.get_num_threads()
    for part in args.parts:
        if part == "speed":
            rows, summary = run_speed(args.repeats), None
        elif part == "textures":
            rows = run_textures()
            summary = means(rows, "method", ("style_gram", "style_swd", "copy", "seconds"))
        else:
            rows = run_transfer(args.cache)
            summary = means(rows, "method", ("style_swd", "style_gram", "content", "swd_x_gatys", "content_x_gatys",
                                             "seconds"))
        head = {"cpu": cpu, "threads": threads, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "torch": torch.__version__}
        (args.out / f"classical_{part}.json").write_text(json.dumps({**head, "rows": rows, "mean": summary},
                                                                    indent=1))
        md = [f"# Classical methods: {part} ({cpu}, {threads} threads, fp32)", "",
              f"`python benchmarks/classical.py --parts {part}`; see the script's docstring for the protocol.", ""]
        if summary:
            md += ["Means per method:", "", table(summary), "", "All runs:", ""]
        md += [table(rows), ""]
        (args.out / f"classical_{part}.md").write_text("\n".join(md))
        print(f"wrote {args.out / f'classical_{part}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
