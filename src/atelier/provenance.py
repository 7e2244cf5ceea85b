"""Provenance: what made an output, written inside the file (torch-free; no PIL, which is io.py's).

Every image atelier writes (``io.save_image``, given a ``metadata`` record) carries:

* an XMP packet with the IPTC Digital Source Type (``Iptc4xmpExt:DigitalSourceType``, IPTC Photo Metadata
  Standard 2023.2 and the NewsCodes vocabulary http://cv.iptc.org/newscodes/digitalsourcetype/), the tool
  (``xmp:CreatorTool``), a one-line ``dc:description`` and the record itself as JSON (``atelier:record``);
* in PNG also an ``atelier`` iTXt chunk holding the same JSON (readable without an XMP parser).

The record (:func:`record`) says the kind of output, the method, the source files by their base names (never
the directories of the machine that made it), the options, the seed and atelier's version. The source
type: a network trained on data (every method whose spec says ``network=True``: gatys through its VGG-19,
the feed-forward and arbitrary-style decoders) made ``trainedAlgorithmicMedia``; the classical methods
``algorithmicMedia``; a result that keeps part of the photo (a ``--mask``, a filled hole) is the composite
term (``compositeWithTrainedAlgorithmicMedia`` / ``compositeSynthetic``); charts are ``dataDrivenMedia``.

:func:`read` gets the record back from an image (through io) or an MP4 (container metadata, written by
``video.io.Mp4Writer``); :func:`describe` formats it for ``atelier provenance``.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InputError

IPTC_TERMS = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC_TERMS + "trainedAlgorithmicMedia"
TRAINED_COMPOSITE = IPTC_TERMS + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMIC = IPTC_TERMS + "algorithmicMedia"
ALGORITHMIC_COMPOSITE = IPTC_TERMS + "compositeSynthetic"
DATA_DRIVEN = IPTC_TERMS + "dataDrivenMedia"

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "atelier": "https://atelier.invalid/ns/provenance/1.0/",  # .invalid: an identifier, never fetched
}
PNG_KEY = "atelier"  # the PNG iTXt keyword of the JSON record (the XMP one is "XML:com.adobe.xmp")
MP4_KEY = "comment"  # the MP4 container tag holding the JSON record (ffmpeg/PyAV write it as ©cmt)
# XMP's packet wrapper (XMP Part 1, 7.3): readers scan for it; "W5M0MpCehiHzreSzNTczkc9d" is the fixed id.
_PACKET = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>')


def source_type(*, network: bool, composite: bool) -> str:
    """The IPTC term for an output made by a trained network or not, whole or over part of a photo."""
    if network:
        return TRAINED_COMPOSITE if composite else TRAINED
    return ALGORITHMIC_COMPOSITE if composite else ALGORITHMIC


def basename(value: Any) -> Any:
    """A path reduced to its file name (a record never holds the maker's directories); else unchanged."""
    if isinstance(value, Path):
        return value.name
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return value


def _scrub(value: Any) -> Any:
    """A JSON-safe copy with every path-like string reduced to its base name."""
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return basename(value if isinstance(value, (str, Path)) else str(value))


def record(kind: str, *, method: str | None = None, source: str = TRAINED, inputs: dict | None = None,
           options: dict | None = None, seed: int | None = None, created: str | None = None,
           **extra) -> dict:
    """The provenance record of one output. ``kind``: what it is ("stylized image", "texture", "video",
    "video frame", "training preview", "snapshot", "preview", "contact sheet", "chart"); ``source``: the
    IPTC term (:func:`source_type`); ``inputs``: the source files (base names kept); ``options``: the
    method's resolved options; ``extra``: other small facts (iteration, refine, mask ...)."""
    out = {"generator": "atelier", "atelier": __version__, "kind": kind, "digital_source_type": source}
    for key, value in (("method", method), ("inputs", inputs), ("options", options), ("seed", seed),
                       ("created", created)):
        if value is not None:
            out[key] = _scrub(value)
    out.update({k: _scrub(v) for k, v in extra.items() if v is not None})
    return out


def from_sidecar(info: dict, *, network: bool, kind: str | None = None) -> dict:
    """The record of a result from its sidecar ``info`` (api.run's, run_texture's or the video's)."""
    inputs = {k: v for k, v in (info.get("inputs") or {}).items() if v not in (None, [])
              and not k.endswith("_size")}
    composite = bool(inputs.get("masks"))
    if kind is None:
        kind = "video" if "video" in info else "texture" if "texture" in info else "stylized image"
    refine = info.get("refine")  # api.run's {"iterations", "seconds", "losses"}: the count is what made it
    return record(kind, method=info.get("method"), source=source_type(network=network, composite=composite),
                  inputs=inputs, options=info.get("config"), seed=info.get("seed"), created=info.get("created"),
                  refine=refine.get("iterations") if isinstance(refine, dict) else refine,
                  interrupted=info.get("interrupted") or None, texture=info.get("texture"))


def to_json(rec: dict) -> str:
    return json.dumps(rec, sort_keys=False, ensure_ascii=False, separators=(",", ":"))


def to_xmp(rec: dict) -> str:
    """The XMP packet of a record: the IPTC source type, the tool, a description and the JSON record."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)

    def q(prefix: str, name: str) -> str:
        return f"{{{NS[prefix]}}}{name}"

    root = ET.Element(q("x", "xmpmeta"))
    rdf = ET.SubElement(root, q("rdf", "RDF"))
    desc = ET.SubElement(rdf, q("rdf", "Description"), {
        q("rdf", "about"): "",
        q("Iptc4xmpExt", "DigitalSourceType"): rec.get("digital_source_type", TRAINED),
        q("xmp", "CreatorTool"): f"atelier {rec.get('atelier', __version__)}",
    })
    if rec.get("created"):
        desc.set(q("xmp", "CreateDate"), str(rec["created"]))
    alt = ET.SubElement(ET.SubElement(desc, q("dc", "description")), q("rdf", "Alt"))
    li = ET.SubElement(alt, q("rdf", "li"), {"{http://www.w3.org/XML/1998/namespace}lang": "x-default"})
    li.text = summary(rec)
    ET.SubElement(desc, q("atelier", "record")).text = to_json(rec)
    return _PACKET.format(body=ET.tostring(root, encoding="unicode"))


def from_xmp(text: str | bytes) -> dict | None:
    """The record in an XMP packet written by :func:`to_xmp` (None if it holds none). An XMP packet from
    another tool that only states a DigitalSourceType gives ``{"digital_source_type": ...}``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ET.fromstring(text[start:end + len("</x:xmpmeta>")])
    except ET.ParseError:
        return None
    node = root.find(f".//{{{NS['atelier']}}}record")
    if node is not None and node.text:
        try:
            rec = json.loads(node.text)
            return rec if isinstance(rec, dict) else None
        except ValueError:
            return None
    for desc in root.iter(f"{{{NS['rdf']}}}Description"):
        term = desc.get(f"{{{NS['Iptc4xmpExt']}}}DigitalSourceType")
        if term:
            return {"digital_source_type": term}
    return None


def summary(rec: dict) -> str:
    """One line: "Made by atelier 0.1.0 (gatys, trained algorithmic media): stylized image of ...""."""
    term = str(rec.get("digital_source_type", "")).rsplit("/", 1)[-1]
    words = {"trainedAlgorithmicMedia": "trained algorithmic media",
             "compositeWithTrainedAlgorithmicMedia": "composite with trained algorithmic media",
             "algorithmicMedia": "algorithmic media", "compositeSynthetic": "composite synthetic media",
             "dataDrivenMedia": "data-driven media"}.get(term, term)
    what = ", ".join(x for x in (rec.get("method"), words) if x)
    inputs = rec.get("inputs") or {}
    names = [n for v in inputs.values() for n in (v if isinstance(v, list) else [v]) if isinstance(n, str)]
    src = f" from {', '.join(names)}" if names else ""
    return f"Made by atelier {rec.get('atelier', '?')} ({what}): {rec.get('kind', 'image')}{src}."


def describe(rec: dict) -> str:
    """Human-readable lines for ``atelier provenance``."""
    lines = [summary(rec), f"  digital source type: {rec.get('digital_source_type', '?')}"]
    for key in ("method", "seed", "created", "refine", "iteration", "texture", "interrupted"):
        if key in rec:
            lines.append(f"  {key}: {_short(rec[key])}")
    for key, value in (rec.get("inputs") or {}).items():
        lines.append(f"  {key}: {_short(value)}")
    options = rec.get("options") or {}
    if options:
        lines.append("  options: " + ", ".join(f"{k}={_short(v)}" for k, v in options.items()))
    return "\n".join(lines)


def _short(value) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")


def read(path) -> dict | None:
    """The record inside ``path`` (an image atelier wrote, or an MP4), or None if it carries none."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"File '{path}' does not exist.")
    if not path.is_file():
        raise InputError(f"'{path}' is not a file.")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return _read_mp4(path)
    from . import io  # io imports this module at its top: imported here to avoid the cycle

    return io.read_metadata(path)


def _read_mp4(path: Path) -> dict | None:
    """The JSON record in an MP4's container tags (PyAV; written by ``video.io.Mp4Writer``)."""
    try:
        import av
    except ImportError:
        raise InputError("Reading a video's provenance needs PyAV: pip install 'atelier[video]'.") from None
    try:
        with av.open(str(path)) as container:
            tags = dict(container.metadata)
    except Exception as exc:  # noqa: BLE001 - PyAV raises FFmpegError subclasses, OSError ...
        raise InputError(f"Cannot read '{path}' as a video: {str(exc).splitlines()[0]}.") from None
    for key in (MP4_KEY, "description"):
        text = tags.get(key, "")
        if text.startswith("{"):
            try:
                rec = json.loads(text)
            except ValueError:
                continue
            if isinstance(rec, dict):
                return rec
    return None
