"""The items of a batch: inputs (files, folders, globs, CSV manifests) expanded into photos, per-row
overrides typed from the configs' fields, and output names that never collide. Torch-free.

A CSV manifest has a header row; ``content`` is required, every other column optional:

    content            the photo (relative paths are relative to the CSV's folder)
    style, mask        painting(s) and mask(s) of that row, several separated by ';' (replace the command's)
    output             the output file name inside OUT_DIR (default: derived, as for any other input)
    method, seed, refine
    <any option>       a method option by its field or flag name (size, style_weight, model, ...)

An empty cell keeps the command's value. A column that is no option of any method is refused (a typo must
not be ignored); a value that does not parse fails its row's item, not the batch.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AtelierError, InputError, OptionError
from ..io import READ_EXTENSIONS
from ..methods import list_methods, method_for_model, method_spec
from ..options import field_type

RUN_COLUMNS = ("content", "style", "mask", "output", "method", "seed", "refine")
OUTPUT_SUFFIX = ".png"


@dataclass
class Item:
    """One photo to stylise. Paths are absolute (a Dask worker may run in another folder)."""

    content: str
    styles: list[str] | None = None  # None: the command's styles
    masks: list[str] | None = None  # None: the command's masks
    overrides: dict[str, Any] = field(default_factory=dict)  # typed options of a CSV row (method/seed too)
    name: str | None = None  # a CSV row's output name
    output: str | None = None  # the name inside OUT_DIR (POSIX relative path), chosen by assign_outputs
    subdir: str = ""  # the folder under an input folder, mirrored in OUT_DIR
    error: str | None = None  # a CSV value that did not parse: the item fails with this sentence
    where: str = ""  # 'x.csv row 3' for messages

    def key(self) -> str:
        """What identifies the item across runs of the same command (the manifest's ``id``)."""
        text = json.dumps([self.content, self.styles, self.masks, self.overrides, self.name, self.subdir],
                          sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in READ_EXTENSIONS and not path.name.startswith(".")


def expand_inputs(inputs: list, *, exclude: Path | None = None) -> list[Item]:
    """Items from files, folders (every image below them; sub-folders mirrored in the output), globs
    (``'photos/**/*.jpg'``, for shells that do not expand them) and ``.csv`` manifests. ``exclude`` (the
    output folder) is never read from. A file that does not exist becomes an item that fails with its
    sentence; a folder without images or a pattern that matches nothing is refused at once."""
    items: list[Item] = []
    skip = exclude.resolve() if exclude is not None else None
    for raw in inputs:
        text = str(raw)
        path = Path(text).expanduser()
        if path.suffix.lower() == ".csv" and path.is_file():
            items += read_csv(path)
        elif path.is_dir():
            found = [p for p in sorted(path.rglob("*")) if _is_image(p) and p.is_file()
                     and (skip is None or skip not in p.resolve().parents)]
            if not found:
                raise InputError(f"Folder '{path}' has no images ({', '.join(READ_EXTENSIONS)}).")
            items += [Item(str(p.resolve()), subdir=p.parent.relative_to(path).as_posix().strip("."))
                      for p in found]
        elif _has_glob(text) and not path.exists():
            found = [Path(p) for p in sorted(glob.glob(str(path), recursive=True)) if _is_image(Path(p))]
            if not found:
                raise InputError(f"The pattern '{text}' matches no image file.")
            items += [Item(str(p.resolve())) for p in found]
        else:  # a photo, or a missing file: that item fails with the reader's sentence
            items.append(Item(str(path.resolve())))
    return items


# ------------------------------------------------------------------------------------------- CSV manifests


def _option_fields() -> dict[str, tuple[type, bool]]:
    """Every method's config fields by name: (element type, is_list)."""
    out = {}
    for name in list_methods():
        cls = method_spec(name).config_class
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            typ, is_list, _ = field_type(hints[f.name])
            out.setdefault(f.name, (typ, is_list))
    return out


def parse_value(name: str, typ: type, is_list: bool, text: str):
    """A CSV cell as the field's type (lists separated by spaces); one sentence if it does not parse."""
    def one(word: str):
        if typ is bool:
            low = word.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return typ(word)

    try:
        return [one(w) for w in text.split()] if is_list else one(text.strip())
    except (TypeError, ValueError):
        kind = {int: "a whole number", float: "a number", bool: "true or false"}.get(typ, typ.__name__)
        raise OptionError(f"{name} must be {kind}, not {text!r}.") from None


def read_csv(path: Path) -> list[Item]:
    """The items of a CSV manifest (see the module docstring)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = [c.strip() for c in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"Cannot read the CSV manifest '{path}' ({err}).") from None
    fields = _option_fields()
    names = {c: c.replace("-", "_").lower() for c in columns}
    unknown = [c for c, n in names.items() if n not in RUN_COLUMNS and n not in fields]
    if not rows or "content" not in names.values():
        raise InputError(f"The CSV manifest '{path}' needs a header row with a 'content' column and one row "
                         "per photo.")
    if unknown:
        raise InputError(f"The CSV manifest '{path}' has column(s) {', '.join(unknown)} that are no option of "
                         f"any method (columns: {', '.join(RUN_COLUMNS)} and the method options).")
    base = path.resolve().parent
    return [_row_item(row, names, fields, base, f"{path.name} row {i}") for i, row in enumerate(rows, start=2)]


def _paths(cell: str, base: Path) -> list[str]:
    return [str((base / Path(p.strip()).expanduser()).resolve()) for p in cell.split(";") if p.strip()]


def _row_item(row: dict, names: dict, fields: dict, base: Path, where: str) -> Item:
    cells = {names[c.strip()]: (v or "").strip() for c, v in row.items() if c is not None}
    item = Item(str((base / Path(cells["content"]).expanduser()).resolve()) if cells["content"] else "",
                where=where)
    if not cells["content"]:
        item.error = f"{where}: the content cell is empty."
    if cells.get("style"):
        item.styles = _paths(cells["style"], base)
    if cells.get("mask"):
        item.masks = _paths(cells["mask"], base)
    if cells.get("output"):
        item.name = cells["output"]
        if Path(item.name).is_absolute() or ".." in Path(item.name).parts:
            item.error = f"{where}: the output '{item.name}' must be a name inside the output folder."
    try:
        for name, text in cells.items():
            if not text or name in ("content", "style", "mask", "output"):
                continue
            if name == "method":
                item.overrides["method"] = text
            elif name in ("seed", "refine"):
                item.overrides[name] = parse_value(name, int, False, text)
            else:
                item.overrides[name] = parse_value(name, *fields[name], text)
    except OptionError as err:
        item.error = f"{where}: {err}"
    return item


# ------------------------------------------------------------------------------------------------ naming


def item_method(item: Item, method: str) -> str:
    """The method of an item: its row's, else the one that runs its row's model, else the command's."""
    if "method" in item.overrides:
        return item.overrides["method"]
    if "model" in item.overrides:
        try:
            return method_for_model(item.overrides["model"])
        except AtelierError:  # an unknown or unreadable model: the item fails when prepared, saying why
            return method
    return method


def default_stem(content: str, styles: list[str], tag: str) -> str:
    """CONTENT__STYLE (several styles joined by '+') or CONTENT__MODEL, as ``atelier stylize`` names."""
    stem = Path(content).stem
    return f"{stem}__{'+'.join(Path(s).stem for s in styles)}" if styles else f"{stem}__{tag}"


def model_tag(model: str | None, method: str, fill: bool) -> str:
    if model:
        return Path(model).stem if model.lower().endswith((".safetensors", ".onnx")) else Path(model).name
    return "filled" if fill else method


def assign_outputs(items: list[Item], names: list[str], taken: set[str], exists) -> None:
    """Give every item without an output a free name: ``names[i]`` (a relative path without suffix) plus
    .png, numbered (-2, -3, ...) past names already taken (compared case-insensitively, for file systems
    that ignore case) and files that ``exists(name)`` says are there and not ours."""
    lower = {t.lower() for t in taken}
    for item, stem in zip(items, names):
        suffix = OUTPUT_SUFFIX
        if item.name is not None and item.error is None:  # a CSV row's name (its suffix sets the format)
            p = Path(item.name)
            stem, suffix = (p.with_suffix("").as_posix(), p.suffix) if p.suffix else (item.name, suffix)
        candidate, n = stem + suffix, 2
        while candidate.lower() in lower or exists(candidate):
            candidate = f"{stem}-{n}{suffix}"
            n += 1
        item.output = candidate
        lower.add(candidate.lower())
