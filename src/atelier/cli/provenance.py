"""``atelier provenance FILE``: print the provenance record atelier embedded in an image or MP4."""

from __future__ import annotations

import json

import atelier

from .common import Parser


def main(command: str, argv: list[str]) -> int:
    p = Parser(prog="atelier provenance", description=(
        "Print what made FILE, as atelier recorded it inside the file: the IPTC digital source type, the "
        "method, the style sources' names, the options, the seed and atelier's version (PNG iTXt, JPEG/WebP/"
        "TIFF XMP, MP4 tags). Exit status 0 when a record was found, 1 when the file carries none."))
    p.add_argument("files", nargs="+", metavar="FILE", help="Image(s) or MP4 video(s) written by atelier.")
    p.add_argument("--json", action="store_true", help="Print the record(s) as JSON.")
    p.add_argument("--watermark", action="store_true", help="Also search an image's pixels for atelier's "
                   "invisible watermark ('atelier stylize --watermark'), which survives re-encoding, resizing and "
                   "cropping; takes a few seconds.")
    args = p.parse_args(argv)
    found, records = 0, {}
    for i, name in enumerate(args.files):
        record = atelier.provenance.read(name)
        mark = _watermark(name) if args.watermark else None
        found += record is not None or bool(mark and mark["found"])
        if args.json:
            records[name] = record if mark is None else {"record": record, "watermark": mark}
            continue
        head = f"{name}: " if len(args.files) > 1 else ""
        if record is None:
            print(f"{head}{name} carries no provenance record of atelier in its metadata (written with --no-metadata, "
                  "stripped since, or not made by atelier).")
        else:
            print(head + atelier.provenance.describe(record).replace("\n", "\n" + " " * len(head)))
        if mark is not None:
            verdict = "found" if mark["found"] else "not found"
            print(f"{head}Invisible watermark of atelier: {verdict} ({round(64 * mark['agreement'])} of 64 bits "
                  f"match; {round(64 * atelier.watermark.THRESHOLD)} needed).")
        if i + 1 < len(args.files):
            print()
    if args.json:
        out = records[args.files[0]] if len(args.files) == 1 else records
        print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0 if found == len(args.files) else 1


def _watermark(name: str) -> dict | None:
    """The watermark search of an image (None for a video)."""
    if name.lower().endswith(atelier.provenance.VIDEO_SUFFIXES):
        return None
    return atelier.watermark.detect_file(name)
