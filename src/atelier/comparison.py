"""Side-by-side comparison of methods and settings: contact sheet, metrics tables, loss curves.

``compare(contents, styles, runs, out_dir)`` stylises every content x style pair with every run spec
through the public API, judges each result with :mod:`atelier.metrics` at one fixed evaluation size, and
writes into ``out_dir``:

* ``contact_sheet.png``: one row per pair: content, style, then each result labelled with its method,
  settings and wall time;
* ``metrics.md``, ``metrics.csv``, ``metrics.json``: one row per result, plus a baseline row per pair for
  the unchanged content image (what "no stylisation" scores);
* ``loss_curves.png``: total loss against iterations and against seconds, for optimisation methods;
* ``images/``: every result with its JSON sidecar.

``compare_folders(folders, reference, out_dir)`` compares collections instead: the KID of each folder to
one reference folder (:mod:`atelier.metrics.kid_vgg`, VGG-19 features, 95 % bootstrap interval), written
as ``kid.md``, ``kid.csv`` and ``kid.json``; the reference's features are computed once.

This module is a front end of the library (like the CLI): it runs methods only through ``atelier.run``.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import api, provenance
from . import io as aio
from .errors import OptionError, OutputError
from .events import Progress

logger = logging.getLogger(__name__)


@dataclass
class RunSpec:
    """One column of the comparison: a method and option overrides, e.g. ``gatys:style_strength=2``."""

    method: str
    options: dict = field(default_factory=dict)
    label: str = ""

    @classmethod
    def parse(cls, text: str) -> RunSpec:
        """``METHOD[:key=value,key=value][@LABEL]``; values are parsed as int, float, list (a|b) or text."""
        label = ""
        if "@" in text:
            text, label = text.rsplit("@", 1)
        method, _, rest = text.partition(":")
        options = {}
        for item in filter(None, rest.split(",")):
            if "=" not in item:
                raise OptionError(f"Run option {item!r} in {text!r} is not of the form key=value.")
            key, value = item.split("=", 1)
            options[key.strip().replace("-", "_")] = _value(value.strip())
        return cls(method.strip(), options, label or text)


def _value(text: str):
    if "|" in text:
        return [_value(t) for t in text.split("|")]
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]


def compare(contents, styles, runs: list[RunSpec], out_dir, *, seed: int = 0, device="auto",
            eval_size: int = 512, overwrite: bool = False, callback=None, metadata: bool = True) -> dict:
    """Run every spec on every content x style pair; write the sheet, tables and curves; return the rows.
    ``metadata=False`` embeds no provenance record in the images."""
    from . import metrics  # the judge: never imports methods

    out_dir = Path(out_dir)
    prepared = _check(contents, styles, runs, out_dir, overwrite=overwrite, eval_size=eval_size, seed=seed)
    rows, curves, sheet_rows = [], [], []
    for content in contents:
        for style in styles:
            pair = f"{Path(str(content)).stem}__{Path(str(style)).stem}"
            base = metrics.evaluate(content, content=content, style=style, size=eval_size)
            rows.append({"pair": pair, "run": "content (unchanged)", "method": "-", "seconds": 0.0, **base})
            cells = []
            for spec in runs:
                history: list[tuple[int, float, float]] = []

                def listen(ev, history=history):
                    if isinstance(ev, Progress):
                        history.append((ev.iteration, ev.elapsed, ev.losses.get("total", float("nan"))))
                    if callback:
                        callback(ev)

                # a trained network holds its style (johnson): the pair's painting is only its column
                takes_style = api.method_spec(spec.method).capabilities.needs_style
                t0 = time.perf_counter()
                result = api.run(content, style if takes_style else None, prepared=prepared[id(spec)],
                                 seed=seed, device=device, callback=listen)
                seconds = time.perf_counter() - t0
                path = out_dir / "images" / f"{pair}__{_slug(spec.label)}.png"
                api.write_result(result, path, overwrite=True, metadata=metadata)
                scores = metrics.evaluate(result.image, content=content, style=style, size=eval_size)
                rows.append({"pair": pair, "run": spec.label, "method": spec.method,
                             "seconds": round(seconds, 2), **scores})
                if history:
                    curves.append((f"{pair} {spec.label}", history))
                cells.append((result.image, f"{spec.label}\n{seconds:.1f} s"))
            sheet_rows.append((aio.load_image(content), aio.load_image(style), cells))
    inputs = {"contents": [str(c) for c in contents], "styles": [str(s) for s in styles]}
    sheet = provenance.record("contact sheet", source=provenance.TRAINED_COMPOSITE, inputs=inputs, seed=seed,
                              runs=[s.label for s in runs]) if metadata else None
    write_contact_sheet(sheet_rows, out_dir / "contact_sheet.png", overwrite=True, metadata=sheet)
    write_tables(rows, out_dir)
    if curves:
        chart = provenance.record("chart", source=provenance.DATA_DRIVEN, runs=[label for label, _ in curves])
        write_loss_curves(curves, out_dir / "loss_curves.png", metadata=chart if metadata else None)
    return {"rows": rows, "out_dir": str(out_dir)}


def _check(contents, styles, runs: list[RunSpec], out_dir: Path, *, overwrite: bool, eval_size: int,
           seed: int) -> dict:
    """Everything checked before the first run, nothing written: the output folder, the inputs (read once),
    every run's method and options (``api.prepare``; returned by ``id(spec)``) and the evaluation size.
    The folder and its images/ are only made when the first result is written."""
    from . import metrics

    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"The comparison's output '{out_dir}' is a file; give a folder (-o DIR).")
    for name in ("contact_sheet.png", "metrics.md", "metrics.csv", "metrics.json", "loss_curves.png"):
        if (out_dir / name).exists() and not overwrite:
            raise OutputError(f"'{out_dir / name}' already exists (use --overwrite to replace the comparison).")
    for image in (*contents, *styles):
        metrics.eval_size(aio.read_image(image).rgb.shape[-2:], eval_size)
    prepared = {}
    for spec in runs:
        takes_style = api.method_spec(spec.method).capabilities.needs_style
        prepared[id(spec)] = api.prepare(spec.method, spec.options, n_styles=1 if takes_style else 0, seed=seed)
    return prepared


def compare_folders(folders, reference, out_dir=None, *, size: int | None = None, overwrite: bool = False,
                    **kid_options) -> list[dict]:
    """One row per folder: its KID to ``reference`` with the interval and the counts (see
    :func:`atelier.metrics.kid`); written to ``out_dir``/kid.md, .csv, .json when ``out_dir`` is given
    (refused, before any work, if they exist and not ``overwrite``)."""
    from . import metrics

    size = metrics.KID_SIZE if size is None else size
    if out_dir is not None:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise OutputError(f"The comparison's output '{out_dir}' is a file; give a folder (-o DIR).")
        for name in ("kid.md", "kid.csv", "kid.json"):
            if (out_dir / name).exists() and not overwrite:
                raise OutputError(f"'{out_dir / name}' already exists (use --overwrite to replace it).")
    ref, _ = metrics.collection_features(reference, size=size, what="The reference set")
    rows, first = [], None
    for folder in folders:
        feats, used = metrics.collection_features(folder, size=size, what=f"The set '{folder}'")
        r = metrics.kid(feats, ref, **kid_options)
        row = {"folder": str(folder), "kid": r["kid"], "low": r["low"], "high": r["high"],
               "images": r["n_a"], "reference_images": r["n_b"],
               "skipped": len(metrics.kid_vgg.image_files(folder)) - len(used)}
        if first is None:
            first = (feats, [p.stem for p in used])
        else:
            # "Is this folder closer than the first?": the difference's own interval (two separate intervals
            # overlap far more often than the difference is uncertain). Paired when both folders hold the
            # same file names, e.g. two methods' outputs of the same photos.
            paired = [p.stem for p in used] == first[1]
            boot = {k: v for k, v in kid_options.items() if k in ("n_bootstrap", "level", "seed")}
            d = metrics.kid_difference(feats, first[0], ref, paired=paired, **boot)
            row.update({"minus_first": d["difference"], "minus_first_low": d["low"],
                        "minus_first_high": d["high"], "paired": paired})
        rows.append(row)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        aio.atomic_write(out_dir / "kid.md", lambda p: p.write_text(
            f"KID to {reference} (VGG-19 relu4_1+relu5_1 mean/std at {size} px; 95 % bootstrap interval; "
            "not comparable to published FID/KID numbers). minus_first: KID minus the first folder's, with the "
            "difference's own interval (paired when both folders hold the same file names).\n\n"
            + metrics.format_table(rows) + "\n"))
        metrics.write_csv(out_dir / "kid.csv", rows)
        aio.write_json(out_dir / "kid.json", {"reference": str(reference), "size": size, "rows": rows})
    return rows


def write_tables(rows: list[dict], out_dir: Path) -> None:
    from .metrics.report import format_table

    columns = list(dict.fromkeys(k for r in rows for k in r))
    aio.atomic_write(out_dir / "metrics.md", lambda p: p.write_text(format_table(rows, columns) + "\n"))

    def write_csv(p: Path) -> None:
        with open(p, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(rows)

    aio.atomic_write(out_dir / "metrics.csv", write_csv)
    aio.write_json(out_dir / "metrics.json", {"rows": rows})


def write_contact_sheet(sheet_rows, path: Path, *, tile: int = 256, overwrite: bool = False,
                        metadata: dict | None = None) -> Path:
    """A grid: per row the content, the style, then each (image, label) result; labels under each tile.

    A row's style may be None (its cell is left blank; with no style in any row the column is dropped):
    e.g. for feed-forward models, or where the painting's file may not be redistributed but results made
    with it may."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=13)
    label_h = 36
    with_style = any(style is not None for _, style, _ in sheet_rows)
    n_cols = 1 + with_style + max(len(cells) for _, _, cells in sheet_rows)
    sheet = Image.new("RGB", (n_cols * (tile + 8) + 8, len(sheet_rows) * (tile + label_h + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (content, style, cells) in enumerate(sheet_rows):
        y = 8 + r * (tile + label_h + 8)
        items = [(content, "content"), *([(style, "style")] if with_style else []), *cells]
        for c, (img, label) in enumerate(items):
            x = 8 + c * (tile + 8)
            if img is None:
                continue
            pil = aio.to_pil(aio.resize(img, aio.fit_size(*img.shape[-2:], tile)))
            sheet.paste(pil, (x + (tile - pil.width) // 2, y + (tile - pil.height) // 2))
            draw.multiline_text((x, y + tile + 3), label, fill="black", font=font, spacing=2)
    return aio.save_image(sheet, path, overwrite=overwrite, metadata=metadata)


def write_loss_curves(curves, path: Path, *, metadata: dict | None = None) -> Path:
    """Total loss against iterations (left) and wall time (right), log scale, one line per run.

    With coarse-to-fine schedules each scale has its own targets: the curve steps at a scale change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for label, hist in curves:
        it, sec, loss = zip(*hist)
        a.plot(it, loss, label=label)
        b.plot(sec, loss, label=label)
    for ax, xl in ((a, "iteration"), (b, "seconds")):
        ax.set_yscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("total loss")
        ax.grid(alpha=0.3)
    a.legend(fontsize=7)
    fig.tight_layout()
    fig.set_dpi(110)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # (H,W,3) uint8 of the rendered figure
    plt.close(fig)
    return aio.save_image(rgb, path, overwrite=True, metadata=metadata)
