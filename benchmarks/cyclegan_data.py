"""The two unpaired domains of the CycleGAN training and evaluation (issue 19), split deterministically.

    python benchmarks/cyclegan_data.py DEBS_DIR OUT_DIR     # called by benchmarks/cyclegan_data.sh

Domain A (photos): ../shared/data/train/imagenet_sample and ../shared/data/registry/photos. The five photos
that benchmarks/johnson_eval.py holds out (``HELD_OUT``) are never trained on: they always go to the test
part. Domain B (paintings): the painted story scenes of Battle for Wesnoth, one collection of one school
(digital paintings in the same painterly, illustrative style, made for the game's campaigns and shipped in
Debian's wesnoth-1.16-* packages, GPL-2+), extracted under DEBS_DIR/x by the shell script. Selection,
judged by looking at every candidate:

* kept: the story scenes of the campaigns in ``CAMPAIGNS`` (the files directly in images/story/) and the 18
  landscapes of the core data (core/images/story/);
* left out: logos (trow-logo and its translations), images under story/ subfolders (character portraits,
  l10n), Secrets of the Ancients (its story images are screenshots of the game map and isometric rooms, not
  paintings), Delfador's Memoirs (a copy of Heir to the Throne's story3 plus portraits), campaign maps, UI
  art, and anything whose short side is under ``MIN_SIDE`` pixels.

Split: every ``EVERY``-th item of the sorted list goes to the test part (offset ``OFFSET``), about 14 %.
Paintings are split by *group*, so near-identical variants of one painting (landscape-bridge and
landscape-bridge_sun, battlefield with and without figures, The South Guard's three seasons of one view)
fall on the same side and the held-out paintings are not copies of training ones.
``OUT_DIR/SOURCES.md`` records the packages, versions, licences, rules and counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
from johnson_eval import HELD_OUT

WESNOTH = "usr/share/games/wesnoth/1.16/data"
# Campaign folder -> Debian package of its story paintings.
CAMPAIGNS = {
    "Descent_Into_Darkness": "wesnoth-1.16-did", "Heir_To_The_Throne": "wesnoth-1.16-httt",
    "Liberty": "wesnoth-1.16-l", "The_Rise_Of_Wesnoth": "wesnoth-1.16-trow",
    "The_South_Guard": "wesnoth-1.16-tsg", "Two_Brothers": "wesnoth-1.16-ttb",
}
CORE_PACKAGE = "wesnoth-1.16-data"  # data/core/images/story: 18 landscapes
PACKAGES = (*CAMPAIGNS.values(), CORE_PACKAGE)
MIN_SIDE = 256
EVERY, OFFSET = 7, 3
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def painting_sources(debs: Path) -> list[tuple[str, Path]]:
    """(name, file) of every kept painting, sorted by name; names are wesnoth__<campaign|core>__<file>."""
    root = debs / "x" / WESNOTH
    found = [(c, p) for c in CAMPAIGNS for p in (root / "campaigns" / c / "images" / "story").glob("*")]
    found += [("core", p) for p in (root / "core" / "images" / "story").glob("*")]
    out = []
    for where, path in found:
        if path.suffix.lower() not in EXTENSIONS or "logo" in path.name:
            continue
        with Image.open(path) as im:
            if min(im.size) < MIN_SIDE:
                continue
        out.append((f"wesnoth__{where}__{path.name}", path))
    return sorted(out)


def painting_group(name: str) -> str:
    """Variants of one painting share a group: the South Guard's seasons, *_sun, *_nohumans."""
    if "__The_South_Guard__" in name:
        return "wesnoth__The_South_Guard"
    return re.sub(r"(_sun|_nohumans)(?=\.\w+$)", "", name)


def photo_sources() -> list[tuple[str, Path]]:
    items = [(f"imagenet__{p.name}", p) for p in (SHARED / "train" / "imagenet_sample").iterdir()]
    items += [(f"registry__{p.name}", p) for p in (SHARED / "registry" / "photos").iterdir()]
    return sorted((n, p) for n, p in items if p.suffix.lower() in EXTENSIONS)


def split(names: list[str], group=lambda n: n) -> tuple[list[str], list[str]]:
    """(train, test): the groups in sorted order, every EVERY-th (from OFFSET) to the test part."""
    groups = sorted({group(n) for n in names})
    test_groups = {g for i, g in enumerate(groups) if i % EVERY == OFFSET}
    test = [n for n in names if group(n) in test_groups]
    return [n for n in names if n not in test], test


def photo_split(names: list[str]) -> tuple[list[str], list[str]]:
    """As :func:`split`, and johnson_eval's five held-out registry photos always in the test part."""
    held = {f"registry__{h}" for h in HELD_OUT}
    train, test = split([n for n in names if n not in held])
    return train, sorted(test + [n for n in names if n in held])


def _fill(folder: Path, names: list[str], files: dict[str, Path]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for n in names:
        shutil.copyfile(files[n], folder / n)


def _version(debs: Path, package: str) -> str:
    deb = max(debs.glob(f"{package}_*.deb"))
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _licence(debs: Path, package: str) -> str:
    """The licence line of the package's debian/copyright (all wesnoth packages share one file)."""
    text = (debs / "x" / "usr" / "share" / "doc" / package / "copyright").read_text(errors="replace")
    gpl = "GNU General Public License version 2" in text and "any later version" in text
    return "GPL-2+ (debian/copyright: the game and its data, GPL version 2 or any later version)" if gpl \
        else "see debian/copyright"


def write_sources(out: Path, debs: Path, counts: dict[str, int], photo_counts: tuple[int, int]) -> None:
    rows = "\n".join(f"| {p} | {_version(debs, p)} | {_licence(debs, p)} |" for p in PACKAGES)
    count_rows = "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    text = f"""# Sources of the CycleGAN data (built by benchmarks/cyclegan_data.sh; never committed)

## Domain B: paintings, the story art of Battle for Wesnoth

Debian packages fetched with `apt-get download` and extracted with `dpkg-deb -x`:

| package | version | licence (read from the package's debian/copyright) |
|---|---|---|
{rows}

Kept: the files directly in `images/story/` of the campaigns {", ".join(CAMPAIGNS)} and
`data/core/images/story/` (landscapes). Left out: logos, story/ subfolders (portraits, l10n), Secrets of the
Ancients (game-map screenshots), Delfador's Memoirs (a copy of one HttT painting plus portraits), maps, UI
art, short side < {MIN_SIDE} px. The artists are the Wesnoth art contributors (see each campaign's
credits in the game); the images are redistributable under the GPL-2+ with the package's copyright file.

## Domain A: photos

`../shared/data/train/imagenet_sample` (ImageNet sample: research use only, never redistributed) and
`../shared/data/registry/photos` (from Debian/PyPI packages; see ../shared/data/CREDITS.md). The five
photos held out by benchmarks/johnson_eval.py ({", ".join(HELD_OUT)}) are only in photos_test.
Photos: {photo_counts[0]} train, {photo_counts[1]} test.

## Split

Sorted names, every {EVERY}th from position {OFFSET} to the test part; paintings by group (variants of one
painting together).

| folder | images |
|---|---|
{count_rows}
"""
    (out / "SOURCES.md").write_text(text)


def main(debs: Path, out: Path) -> None:
    paintings = dict(painting_sources(debs))
    photos = dict(photo_sources())
    p_train, p_test = split(sorted(paintings), painting_group)
    f_train, f_test = photo_split(sorted(photos))
    plan = {"photos_train": (f_train, photos), "photos_test": (f_test, photos),
            "paintings_train": (p_train, paintings), "paintings_test": (p_test, paintings)}
    for folder, (names, files) in plan.items():
        _fill(out / folder, names, files)
    counts = {k: len(v[0]) for k, v in plan.items()}
    write_sources(out, debs, counts, (len(f_train), len(f_test)))
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
