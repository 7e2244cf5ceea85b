"""Reports of metric rows: a Markdown table, CSV and JSON files (written atomically via atelier.io)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from ..io import atomic_write
from ..io import write_json as _write_json


def _columns(rows: Sequence[dict], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}  # keys in first-seen order
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _cell(value, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, floatfmt)
    return str(value)


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None, *, floatfmt: str = ".4g") -> str:
    """Rows of ``{column: value}`` -> a Markdown (GitHub) table; missing values are empty cells.

    ``columns`` defaults to every key in first-seen order. Floats use ``floatfmt``; numeric columns are
    right-aligned; "|" in cells is escaped.
    """
    cols = _columns(rows, columns)
    if not cols:
        return ""
    cells = [[_cell(row.get(c), floatfmt).replace("|", "\\|") for c in cols] for row in rows]
    numeric = [
        all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows) and bool(rows)
        for c in cols
    ]
    widths = [max([len(c)] + [len(r[i]) for r in cells] + [3]) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "| " + " | ".join(parts) + " |"

    dashes = ["-" * (w + 1) + ":" if num else "-" * (w + 2) for w, num in zip(widths, numeric)]
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(cols), rule, *(line(r) for r in cells)]) + "\n"


def write_csv(path, rows: Sequence[dict], columns: Sequence[str] | None = None) -> Path:
    """Write rows as CSV (header = columns, default every key in first-seen order), atomically."""
    cols = _columns(rows, columns)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(path, write)


def write_json(path, data) -> Path:
    """Write a dict, or a list of rows as ``{"rows": [...]}``, as UTF-8 JSON, atomically (atelier.io)."""
    return _write_json(path, data if isinstance(data, dict) else {"rows": list(data)})
