"""Bundle a trained CycleGAN (or CUT) model as atelier's default ``cyclegan`` (``cut``), with card and sheet.

    python benchmarks/cyclegan_bundle.py MODEL.safetensors [--method cyclegan|cut] [--sheet docs/cyclegan.jpg]
                                         [--eval benchmarks/results/cyclegan_eval.json]
                                         [--sources /work/train/cyclegan/SOURCES.md]

Copies MODEL (from ``atelier train cyclegan``, e.g. benchmarks/train_cyclegan.sh) to
``src/atelier/weights/<method>/<method>.safetensors`` and writes its manifest entry: sha256, the licences of
what it was trained on (the Debian packages of the painting domain, read from the data script's SOURCES.md
table), the training card of the file (domains, image counts, steps, time, size) and the KID rows and paired
differences of ``benchmarks/cyclegan_eval.py`` run on the same file (``--eval``; only taken when that run's
row was made from this very file, checked by its sha256). Then ``--sheet``: held-out photos turned into the
painting domain by the bundled models (cyclegan a2b, cut when bundled) beside AdaIN given one painting of
the collection (the paintings are not drawn: they are never committed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
from pathlib import Path

from johnson_eval import HELD_OUT, add_to_manifest

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parent / "src" / "atelier" / "weights"
DATA = Path("/work/train/cyclegan")


def packages(sources: Path) -> list[dict]:
    """The painting packages' table of SOURCES.md: [{package, version, licence}]."""
    rows = []
    for line in sources.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.match(r"^[a-z0-9][a-z0-9.+-]*$", cells[0]) and cells[0] != "package":
            rows.append({"package": cells[0], "version": cells[1], "licence": cells[2].split(" (")[0]})
    return rows


def evaluation(path: Path, model_sha: str, method: str) -> dict | None:
    """The KID rows of a cyclegan_eval.py run whose ``method`` row used this very file, else None."""
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    rows = {r["row"]: r for r in result["rows"]}
    if method not in rows or result.get("model_sha256", {}).get(method) != model_sha:
        return None
    keep = ("images", "content", "kid")
    return {"size": result["size"], "cpu": result["cpu"], "measure": "KID on VGG-19 relu4_1+relu5_1 mean/std "
            "(atelier.metrics.kid_vgg; not comparable to published FID/KID), 95 % bootstrap interval",
            "rows": {name: {k: r[k] for k in keep} for name, r in rows.items()},
            # paired KID(a) - KID(b) (atelier.metrics.kid_difference); '(fixed)' = reference paintings not resampled
            "differences": {f"{d['a']} - {d['b']}": d["kid"] for d in result.get("differences", [])}}


def bundle(model: Path, eval_path: Path, sources: Path, method: str = "cyclegan") -> dict:
    from atelier.weights import read_header

    header = read_header(model)
    if header.get("method") != method:
        raise SystemExit(f"{model} is a {header.get('method')} model, not {method}.")
    card = dict(header.get("card") or {})
    folder = WEIGHTS / method
    folder.mkdir(exist_ok=True)
    dest = folder / f"{method}.safetensors"
    if model.resolve() != dest.resolve():
        shutil.copyfile(model, dest)
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    pkgs = packages(sources) if sources.is_file() else []
    entry = {
        "name": method, "file": dest.name, "method": method, "sha256": sha,
        "licence": ("MIT, as atelier (trained here by atelier's own code). Training data, not shipped: domain B the "
                    "story paintings of Battle for Wesnoth from Debian packages (" +
                    ", ".join(f"{p['package']} {p['version']}" for p in pkgs) + "; GPL-2+); domain A photos "
                    "(ImageNet sample, research use; the registry photos of Debian/PyPI packages)."),
        "source": f"trained by 'atelier train {method}' on the folders of benchmarks/cyclegan_data.sh",
        "card": {**card, "domain_names": {"a": "photos", "b": "Wesnoth story paintings"}, "data_packages": pkgs,
                 "evaluation": evaluation(eval_path, sha, method)},
    }
    return add_to_manifest(folder / "manifest.json", entry)


def sheet(path: Path, data: Path, n_photos: int = 4) -> Path:
    """Rows: held-out photo | cyclegan a2b | cut (when bundled) | adain given one painting of the collection.

    The paintings themselves are not drawn: the painting domain is never committed (issue 19), and a sheet in
    docs/ would copy them; the AdaIN label names the painting's file instead."""
    import atelier
    from atelier.comparison import write_contact_sheet
    from atelier.weights import has_model

    # cyclegan_data.sh names the registry photos 'registry__NAME'
    photos = [data / "photos_test" / f"registry__{name}" for name in HELD_OUT
              if (data / "photos_test" / f"registry__{name}").is_file()]
    train = sorted((data / "paintings_train").iterdir())
    rows = []
    for photo in photos[:n_photos]:
        painting = random.Random(f"0:{photo.name}").choice(train)  # cyclegan_eval.py's draw (seed 0)
        cells = [(atelier.run(photo, method="cyclegan", size=256, device="cpu").image,
                  "cyclegan a2b\n(the collection)")]
        if has_model("cut"):
            cells.append((atelier.run(photo, method="cut", size=256, device="cpu").image,
                          "cut (FastCUT)\n(the collection)"))
        adain = atelier.run(photo, painting, method="adain", size=256, device="cpu").image
        cells.append((adain, f"adain, one painting\n({painting.stem[:24]})"))
        rows.append((atelier.load_image(photo, long_side=256), None, cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_contact_sheet(rows, path, tile=200, overwrite=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--method", default="cyclegan", choices=("cyclegan", "cut"))
    p.add_argument("--eval", type=Path, default=HERE / "results" / "cyclegan_eval.json")
    p.add_argument("--sources", type=Path, default=DATA / "SOURCES.md")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--sheet", type=Path, default=HERE.parent / "docs" / "cyclegan.jpg")
    args = p.parse_args()
    entry = bundle(args.model, args.eval, args.sources, args.method)
    print(json.dumps(entry, indent=2))
    print(f"sheet: {sheet(args.sheet, args.data)}")


if __name__ == "__main__":
    main()
