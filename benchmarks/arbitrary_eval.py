"""Judge trained AdaIN/SANet/WCT networks on paintings and photos they never saw, and bundle them.

    python benchmarks/arbitrary_eval.py --adain A.safetensors --sanet S.safetensors --wct W.safetensors
                                        [--size 256] [--bundle] [--sheet docs/arbitrary_models.jpg]
                                        [--refine adain=25] [--reuse-gatys]

For every held-out painting (``UNSEEN_STYLES``: left out of ``benchmarks/train_arbitrary.sh``'s training
paintings) and every held-out photo (``johnson_eval.HELD_OUT``: left out of the training photos), the photo
is stylised with the painting by each network and by ``atelier stylize`` with the Gatys defaults at the same
long side ``--size``; all are judged by ``atelier.evaluate`` against the photo and the painting. Reported
per network: mean style distance (sliced Wasserstein; Gram too) and content distance, and the ratio
network / Gatys. Gatys results are cached under ``--cache`` (shared with johnson_eval.py).

``--bundle`` copies each network into ``src/atelier/weights/<method>/<method>.safetensors`` (the name the
methods use when ``--model`` is not given) with its manifest entry: file, SHA-256, licence, and the card
(architecture, training data, steps, time, these metrics). ``--sheet`` writes a contact sheet: per row a
photo, then Gatys and each network with one unseen painting (no painting column: files of
../shared/data/styles may not be committed), and with ``--refine METHOD=N`` one more column: that method's
result continued by N Gatys iterations.

The *decoder floor* of each network: every unseen painting stylised with itself as photo and as style.
AdaIN(s, s) and WCT(s, s) are the painting's own features (SANet's T(s, s) is trained to be), so the result
is the painting passed through the encoder and the decoder(s), and its style distance to the painting is what
a perfect feature transform would still leave with this decoder: the transform cannot bring a photo closer.

``--reuse-gatys`` takes the Gatys metrics of a pair from the previous
``arbitrary_eval.json`` (same size; Gatys' default result is deterministic) and runs Gatys only for the
sheet's rows. Results: ``arbitrary_eval.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from johnson_eval import HELD_OUT, SHARED, add_to_manifest, gatys_reference, summarise, to_markdown

WEIGHTS = HERE.parent / "src" / "atelier" / "weights"
# Paintings the bundled decoders never saw (train_arbitrary.sh copies the other six of ../shared/data/styles).
UNSEEN_STYLES = ("the_scream.jpg", "water_lilies.jpg", "woman_with_hat.jpg")


def previous_gatys(results: list[dict], size: int) -> dict:
    """{(photo, style): (metrics, seconds)} of the Gatys references in earlier results at ``size``."""
    return {(p["photo"], p["style"]): (p["gatys"], p["gatys_seconds"])
            for r in results if r["size"] == size for p in r["per_pair"]}


def judge(method: str, model: Path, size: int, cache: Path, sheet: dict, known: dict | None = None) -> dict:
    """Metrics of ``model`` and of Gatys on every (held-out photo, unseen painting) pair (Gatys' from
    ``known`` where it has the pair, except on the sheet's rows, whose image is needed)."""
    import atelier

    per_pair = []
    for s_i, style_name in enumerate(UNSEEN_STYLES):
        style = SHARED / "styles" / style_name
        for p_i, name in enumerate(HELD_OUT):
            photo = SHARED / "registry" / "photos" / name
            on_sheet = p_i == s_i  # one photo per painting on the contact sheet
            if known and (name, style_name) in known and not on_sheet:
                ref, (ref_metrics, ref_seconds) = None, known[(name, style_name)]
            else:
                ref, ref_seconds = gatys_reference(photo, style, size, cache)
                ref_metrics = atelier.evaluate(ref, content=photo, style=style, size=size)
            t = time.perf_counter()
            out = atelier.run(photo, style, method=method, model=str(model), size=size, device="cpu").image
            seconds = time.perf_counter() - t
            if on_sheet:
                row = sheet.setdefault((name, style_name), {
                    "content": atelier.load_image(photo),
                    "cells": [(atelier.load_image(ref), f"Gatys default\n{Path(style_name).stem}, {ref_seconds:.0f} s")]})
                row["cells"].append((out, f"{method}\n{Path(style_name).stem}, {seconds:.2f} s"))
            per_pair.append({
                "photo": name, "style": style_name,
                "model": atelier.evaluate(out, content=photo, style=style, size=size),
                "gatys": ref_metrics, "model_seconds": round(seconds, 3), "gatys_seconds": ref_seconds,
            })
    mean, ratio = summarise(per_pair)
    floor = decoder_floor(method, model, size)
    return {"method": method, "model": model.name, "size": size, "photos": list(HELD_OUT),
            "styles": list(UNSEEN_STYLES), "mean": mean, "ratio_model_to_gatys": ratio,
            "decoder_floor": {**floor, "style_swd_to_gatys": round(floor["style_swd"] / mean["gatys"]["style_swd"], 3)},
            "seconds": {"model": round(statistics.fmean(p["model_seconds"] for p in per_pair), 3),
                        "gatys": round(statistics.fmean(p["gatys_seconds"] for p in per_pair), 1)},
            "per_pair": per_pair}


def decoder_floor(method: str, model: Path, size: int) -> dict:
    """Mean style (SWD) and content distance of each unseen painting stylised with itself (see above)."""
    import atelier

    rows = []
    for style_name in UNSEEN_STYLES:
        painting = SHARED / "styles" / style_name
        out = atelier.run(painting, painting, method=method, model=str(model), size=size, device="cpu").image
        rows.append(atelier.evaluate(out, content=painting, style=painting, size=size))
    return {k: round(statistics.fmean(r[k] for r in rows), 4) for k in ("style_swd", "content")}


def floor_table(results: list[dict]) -> str:
    """The decoder floors of ``results`` that have one (older results do not)."""
    rows = [r for r in results if "decoder_floor" in r]
    if not rows:
        return ""
    lines = ["", "Decoder floor: each unseen painting stylised with itself (its own features decoded): the style",
             "distance no feature transform can go below with this decoder.", "",
             "| method | size | floor style SWD | floor / Gatys' SWD on the photos | floor content |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['size']} | {r['decoder_floor']['style_swd']:.3f} | "
              f"{r['decoder_floor']['style_swd_to_gatys']} | {r['decoder_floor']['content']:.3f} |" for r in rows]
    return "\n".join(lines) + "\n"


def bundle(method: str, model: Path, evaluation: dict) -> dict:
    """Copy ``model`` into the package as the method's default network and write its manifest entry."""
    from atelier.weights import read_header

    header = read_header(model)
    card = dict(header.get("card") or {})
    folder = WEIGHTS / method
    folder.mkdir(exist_ok=True)
    dest = folder / f"{method}.safetensors"
    if model.resolve() != dest.resolve():
        shutil.copyfile(model, dest)
    data = card.get("data", {})
    entry = {
        "name": method, "file": dest.name, "method": method,
        "sha256": hashlib.sha256(dest.read_bytes()).hexdigest(),
        "licence": "MIT, as atelier (trained here; the VGG-19 encoder it needs: Simonyan & Zisserman, CC BY 4.0)",
        "source": f"trained by 'atelier train {method}' (benchmarks/train_arbitrary.sh)",
        "card": {
            "paper": card.get("paper"), "arch": card.get("arch"), "parameters": card.get("parameters"),
            "steps": card.get("steps"), "training_seconds": card.get("training_seconds"),
            "precision": card.get("precision"),
            **({"initialised_from": card["initialised_from"]} if card.get("initialised_from") else {}),
            # wct: the decoders these steps trained (with --init the others are the init model's, unchanged)
            **({"levels_trained": header["config"]["levels"]} if method == "wct" else {}),
            "data": (f"{data.get('content_images', '?')} photos (ImageNet sample, train/imagenet_sample, and the "
                     f"registry photos except five held out; not shipped)" + (
                         " only: no painting (reconstruction decoders)" if method == "wct" else
                         f" and {data.get('style_images', '?')} paintings (six of ../shared/data/styles and the "
                         "story art of Debian's wesnoth-1.16 campaign packages, GPL-2+/CC BY-SA; not shipped); "
                         "the_scream, water_lilies and woman_with_hat held out")),
            "evaluation": {k: evaluation[k] for k in ("size", "photos", "styles", "mean", "ratio_model_to_gatys",
                                                      "decoder_floor", "seconds") if k in evaluation},
        },
    }
    return add_to_manifest(folder / "manifest.json", entry)


def atelier_run_refined(name: str, style_name: str, method: str, model: Path, n: int, size: int):
    import atelier

    photo, style = SHARED / "registry" / "photos" / name, SHARED / "styles" / style_name
    prepared = atelier.prepare(method, {"model": str(model), "size": size}, n_styles=1, refine=n)
    return atelier.run(photo, style, prepared=prepared, device="cpu").image


def main(argv=None) -> int:
    from atelier.paths import atelier_home
    from atelier.runtime import tune_allocator

    tune_allocator()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adain", type=Path, default=None, help="A trained AdaIN decoder (.safetensors).")
    p.add_argument("--sanet", type=Path, default=None, help="A trained SANet (.safetensors).")
    p.add_argument("--wct", type=Path, default=None, help="Trained WCT decoders (.safetensors).")
    p.add_argument("--refine", default=None, metavar="METHOD=N",
                   help="A contact-sheet column: METHOD's result continued by N Gatys iterations.")
    p.add_argument("--reuse-gatys", action="store_true",
                   help="Gatys metrics from the previous results where they have the pair (see above).")
    p.add_argument("--size", type=int, default=256, help="Long side of every result and of the evaluation.")
    p.add_argument("--cache", type=Path, default=atelier_home() / "bench", help="Where Gatys results are kept.")
    p.add_argument("--bundle", action="store_true", help="Copy the networks into the package with their cards.")
    p.add_argument("--sheet", type=Path, default=None, help="Also write the contact sheet here.")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    given = (("adain", args.adain), ("sanet", args.sanet), ("wct", args.wct))
    models = [(m, path) for m, path in given if path is not None]
    if not models:
        p.error("give --adain, --sanet and/or --wct")
    old = args.out / "arbitrary_eval.json"
    results = json.loads(old.read_text()) if old.exists() else []
    known = previous_gatys(results, args.size) if args.reuse_gatys else None
    sheet: dict = {}
    for method, path in models:
        r = judge(method, path, args.size, args.cache, sheet, known)
        results = [x for x in results if (x["method"], x["size"]) != (method, r["size"])] + [r]
        args.out.mkdir(parents=True, exist_ok=True)
        old.write_text(json.dumps(results, indent=2) + "\n")  # after every network: a long run keeps its work
        (args.out / "arbitrary_eval.md").write_text(to_markdown(results, key="method") + floor_table(results))
        print(to_markdown([r], key="method") + floor_table([r]), flush=True)
        if args.bundle:
            entry = bundle(method, path, r)
            print(f"bundled {entry['name']} ({entry['sha256'][:12]}...)")
    if args.refine:
        method, n = args.refine.split("=")
        path = dict(models)[method]
        for (name, style_name), row in sheet.items():
            t = time.perf_counter()
            out = atelier_run_refined(name, style_name, method, path, int(n), args.size)
            label = f"{method} --refine {n}\n{Path(style_name).stem}, {time.perf_counter() - t:.1f} s"
            row["cells"].append((out, label))
    if args.sheet:
        from atelier.comparison import write_contact_sheet

        rows = [(row["content"], None, row["cells"]) for row in sheet.values()]
        print("wrote", write_contact_sheet(rows, args.sheet, tile=200, overwrite=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
