"""Judge trained feed-forward models against atelier's default Gatys result, and bundle them.

    python benchmarks/johnson_eval.py MODEL [MODEL ...] [--size 512] [--bundle]

For every model (a .safetensors file from ``atelier train johnson``) and every held-out photo (five
registry photos that the bundled models were not trained on, ``HELD_OUT``), the photo is stylised by the
model and by ``atelier stylize`` with the Gatys defaults at the same long side ``--size``, both judged by
``atelier.evaluate`` against the photo and the model's style painting (from ../shared/data/styles, found
by the name in the model card). Reported per model: the mean style distance (sliced Wasserstein; Gram
too) and content distance of each, and the ratio model / Gatys (issue 5's target: both at most 1.5).
Gatys results are cached under ``--cache`` so a rerun judges new models without re-optimising.

``--bundle`` then copies each model into ``src/atelier/weights/johnson/`` (named after its file's stem)
and writes its manifest entry: file, SHA-256, style and its licence/source, and the card (training data,
steps, time, these metrics). Results: ``johnson_eval.json`` and ``johnson_eval.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
WEIGHTS = HERE.parent / "src" / "atelier" / "weights" / "johnson"
# Photos never used to train the bundled models (training used the other registry photos and
# train/imagenet_sample): a portrait, an animal, a still life, architecture at two aspect ratios.
HELD_OUT = [
    "matplotlib__grace_hopper.jpg", "scikit-image__chelsea.jpg", "opencv-doc__fruits.jpg",
    "tuxpaint-data__lighthouse.jpg", "lomiri-wallpapers-16.04__Bridge_by_Sander_Klootwijk.jpg",
]
# Style paintings we bundle models of: all public domain by age (../shared/data/CREDITS.md).
STYLE_CREDITS = {
    "starry_night.jpg": "Vincent van Gogh, The Starry Night (1889)",
    "the_scream.jpg": "Edvard Munch, The Scream (1893)",
    "great_wave.jpg": "Katsushika Hokusai, The Great Wave off Kanagawa (c.1831)",
    "composition_vii.jpg": "Wassily Kandinsky, Composition VII (1913)",
    "udnie.jpg": "Francis Picabia, Udnie (1913)",
    "shipwreck.jpg": "J. M. W. Turner, The Shipwreck of the Minotaur (c.1810)",
    "water_lilies.jpg": "Claude Monet, Water Lilies (1919)",
    "woman_with_hat.jpg": "Henri Matisse, Woman with a Hat (1905)",
    "starry_night_over_the_rhone.jpg": "Vincent van Gogh, Starry Night Over the Rhone (1888)",
}
KEYS = ("style_swd", "style_gram", "content", "ssim", "grid")  # grid: periodic-artefact measure (1 = none)
SHEET_PHOTOS = 2  # rows of the contact sheet per model


def gatys_reference(photo: Path, style: Path, size: int, cache: Path) -> tuple[Path, float | None]:
    """The default Gatys result of (photo, style) at long side ``size``; cached as a PNG."""
    import atelier

    out = cache / f"gatys-{size}" / f"{photo.stem}__{style.stem}.png"
    if out.exists():
        return out, json.loads(atelier.sidecar_path(out).read_text())["timings"]["total_seconds"]
    out.parent.mkdir(parents=True, exist_ok=True)
    _, result = atelier.stylize_to_file(photo, style, out, size=size, device="cpu")
    return out, result.info["timings"]["total_seconds"]


def judge(model: Path, size: int, cache: Path, sheet: list, known: dict | None = None) -> dict:
    """Metrics of ``model`` and of Gatys on every held-out photo; Gatys' from ``known`` ({(photo, style):
    (metrics, seconds)} of earlier results) where it has the pair and no contact sheet needs its image."""
    import atelier
    from atelier.weights import read_header

    card = read_header(model).get("card") or {}
    style = SHARED / "styles" / card["style"]
    per_photo = []
    for name in HELD_OUT:
        photo = SHARED / "registry" / "photos" / name
        if known and (name, card["style"]) in known and sheet is None:
            ref, (ref_metrics, ref_seconds) = None, known[(name, card["style"])]
        else:
            ref, ref_seconds = gatys_reference(photo, style, size, cache)
            ref_metrics = atelier.evaluate(ref, content=photo, style=style, size=size)
        t = time.perf_counter()
        out = atelier.run(photo, method="johnson", model=str(model), size=size, device="cpu").image
        ff_seconds = time.perf_counter() - t
        if sheet is not None and len(sheet) < SHEET_PHOTOS:  # (content, style, cells) rows of the contact sheet
            sheet.append((atelier.load_image(photo), None,
                          [(atelier.load_image(ref), f"Gatys default\n{ref_seconds:.0f} s"),
                           (out, f"{model.stem}\n{ff_seconds:.2f} s")]))
        per_photo.append({
            "photo": name,
            "model": atelier.evaluate(out, content=photo, style=style, size=size),
            "gatys": ref_metrics,
            "model_seconds": round(ff_seconds, 3), "gatys_seconds": ref_seconds,
        })
    mean, ratio = summarise(per_photo)
    return {"model": model.stem, "style": card["style"], "size": size, "photos": HELD_OUT, "mean": mean,
            "ratio_model_to_gatys": ratio,
            "seconds": {"model": round(statistics.fmean(p["model_seconds"] for p in per_photo), 3),
                        "gatys": round(statistics.fmean(p["gatys_seconds"] for p in per_photo), 1)},
            "per_photo": per_photo}


def summarise(rows: list[dict]) -> tuple[dict, dict]:
    """(mean metrics of 'model' and of 'gatys' over ``rows``, ratio model / Gatys of the distances)."""
    mean = {who: {k: round(statistics.fmean(r[who][k] for r in rows), 4) for k in KEYS} for who in ("model", "gatys")}
    ratio = {k: round(mean["model"][k] / mean["gatys"][k], 3) for k in ("style_swd", "style_gram", "content", "grid")}
    return mean, ratio


def bundle(model: Path, evaluation: dict) -> dict:
    """Copy ``model`` into the package and write its manifest entry; returns the entry."""
    from atelier.weights import read_header

    header = read_header(model)
    card = dict(header.get("card") or {})
    name = model.stem
    dest = WEIGHTS / f"{name}.safetensors"
    if model.resolve() != dest.resolve():
        shutil.copyfile(model, dest)
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    data = card.get("data", {})
    entry = {
        "name": name, "file": dest.name, "method": "johnson", "sha256": sha, "style": card["style"],
        "licence": "public domain (artwork by age)",
        "source": STYLE_CREDITS.get(card["style"], card["style"]) + "; image as in ../shared/data/styles "
                  "(see CREDITS there)",
        "card": {
            "arch": card.get("arch"), "parameters": card.get("parameters"), "steps": card.get("steps"),
            "training_seconds": card.get("training_seconds"), "precision": card.get("precision"),
            **({"initialised_from": card["initialised_from"]} if card.get("initialised_from") else {}),
            "training_options": training_options(header),
            "data": f"{data.get('images', '?')} photos: ImageNet sample (train/imagenet_sample, not shipped) "
                    "and the registry photos except the five held out for evaluation",
            "evaluation": {k: evaluation[k] for k in ("size", "photos", "mean", "ratio_model_to_gatys", "seconds")},
        },
    }
    return add_to_manifest(WEIGHTS / "manifest.json", entry)


def training_options(header: dict) -> dict:
    """The options of ``atelier train`` that shape the result (from the model's stored config)."""
    cfg = header.get("config") or {}
    keys = ("size", "batch_size", "lr", "content_weight", "style_strength", "tv_weight", "style_size",
            "content_layers", "style_layers", "seed")
    return {k: cfg[k] for k in keys if k in cfg}


def add_to_manifest(manifest_path: Path, entry: dict) -> dict:
    """Put ``entry`` into a bundle's manifest (replacing one of the same name; sorted by name)."""
    manifest = (json.loads(manifest_path.read_text()) if manifest_path.exists()
                else {"format_version": 1, "models": []})  # a new bundle (e.g. the first wct decoders)
    manifest["models"] = [m for m in manifest["models"] if m["name"] != entry["name"]] + [entry]
    manifest["models"].sort(key=lambda m: m["name"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry


def to_markdown(results: list[dict], key: str = "model") -> str:
    """The table of ``results``, a row each, named by their ``key`` (arbitrary_eval.py: 'method')."""
    lines = [(f"| {key} | size | style SWD model / Gatys | content model / Gatys | SWD ratio | content ratio "
             "| Gram ratio | grid model / Gatys | s per image model / Gatys |"),
             "|---|---:|---|---|---:|---:|---:|---|---|"]
    for r in results:
        m, g, q = r["mean"]["model"], r["mean"]["gatys"], r["ratio_model_to_gatys"]
        grid = f"{m['grid']:.2f} / {g['grid']:.2f}" if "grid" in m else "-"  # results older than the measure
        lines.append(f"| {r[key]} | {r['size']} | {m['style_swd']:.3f} / {g['style_swd']:.3f} | "
                     f"{m['content']:.3f} / {g['content']:.3f} | {q['style_swd']} | {q['content']} | "
                     f"{q['style_gram']} | {grid} | {r['seconds']['model']} / {r['seconds']['gatys']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from atelier.paths import atelier_home
    from atelier.runtime import tune_allocator

    tune_allocator()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--size", type=int, default=512, help="Long side of both results and of the evaluation.")
    p.add_argument("--cache", type=Path, default=atelier_home() / "bench", help="Where Gatys results are kept.")
    p.add_argument("--bundle", action="store_true", help="Copy the models into the package with their cards.")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--sheet", type=Path, default=None,
                   help="Also write a contact sheet (photo, Gatys default, model) of these models here. It has "
                        "no painting column: files of ../shared/data/styles may not be committed.")
    p.add_argument("--reuse-gatys", action="store_true",
                   help="Take Gatys' metrics from the previous johnson_eval.json where it has the photo and "
                        "style at this size (Gatys' default result is deterministic); not with --sheet.")
    args = p.parse_args(argv)
    rows: list = []
    old = args.out / "johnson_eval.json"
    results = json.loads(old.read_text()) if old.exists() else []
    known = {(q["photo"], r["style"]): (q["gatys"], q["gatys_seconds"]) for r in results
             if r["size"] == args.size for q in r["per_photo"]} if args.reuse_gatys else None
    for model in args.models:
        r = judge(model, args.size, args.cache, sheet := ([] if args.sheet else None), known)
        rows += sheet or []
        results = [x for x in results if (x["model"], x["size"]) != (r["model"], r["size"])] + [r]
        args.out.mkdir(parents=True, exist_ok=True)
        old.write_text(json.dumps(results, indent=2) + "\n")  # after every model: a long run keeps its work
        (args.out / "johnson_eval.md").write_text(to_markdown(results))
        print(to_markdown([r]), flush=True)
        if args.bundle:
            entry = bundle(model, r)
            print(f"bundled {entry['name']} ({entry['sha256'][:12]}...)")
    if args.sheet:
        from atelier.comparison import write_contact_sheet

        print("wrote", write_contact_sheet(rows, args.sheet, tile=200, overwrite=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
