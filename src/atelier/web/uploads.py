"""What a request may bring: this server's limits, the uploads of a job (copied into its directory under
server-made names and checked by their content, never by the user's file name) and the bundled images."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, UploadFile

import atelier

from .guard import MB

# Formats accepted as images (as detected by decoding, not by the file name) and their stored extension.
IMAGE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
IMAGE_KINDS = "JPEG, PNG, WebP, TIFF or BMP"
MAX_STYLES = 8


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 100 * MB  # one request (all its files)
    max_pixels: int = 40_000_000  # per uploaded image, checked from the header before decoding
    max_size: int = 4096  # long side of an output
    max_frames: int = 300  # frames of one video job (12 s at 25 fps)

    def public(self) -> dict[str, int]:
        return {"max_upload_bytes": self.max_upload_bytes, "max_pixels": self.max_pixels,
                "max_size": self.max_size, "max_frames": self.max_frames}


def http_error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def bundled_images() -> dict[str, dict[str, Any]]:
    content, style = atelier.default_inputs()
    return {
        "example-photo": {"role": "content", "path": content, "name": "example photo",
                          "title": "Example photo (china.jpg, scikit-learn sample, CC BY 2.0)"},
        "starry-night": {"role": "style", "path": style, "name": "The Starry Night",
                         "title": "Vincent van Gogh, The Starry Night (1889)"},
    }


def store_bundled(item: str | None, role: str, d: Path, index: int = 0) -> tuple[str, str]:
    """Copy a bundled image into the job directory. Returns (stored file name, its display name)."""
    entry = bundled_images().get(item or "")
    if entry is None or entry["role"] != role:
        valid = ", ".join(k for k, v in bundled_images().items() if v["role"] == role)
        raise http_error(422, f"No bundled {role} image {item!r}; choose {valid}.")
    src = Path(entry["path"])
    name = f"{role}{src.suffix.lower()}" if role == "content" else f"style-{index}{src.suffix.lower()}"
    shutil.copyfile(src, d / name)
    return name, entry["name"]


def display_name(filename: str | None) -> str:
    """The user's file name for display only: its last component, printable, at most 100 characters."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:100] or "upload"


async def store_upload(upload: UploadFile, d: Path, stem: str, *, video: bool, max_pixels: int,
                       role: str = "content") -> tuple[str, str]:
    """Copy an upload into the job directory under a server-made name; check that it is an image (or a
    video) and within the pixel limit. Returns (stored file name, the user's name for display)."""
    shown = display_name(upload.filename)
    tmp = d / f".{stem}.upload"
    await asyncio.to_thread(_copy_to, upload.file, tmp)
    try:
        if tmp.stat().st_size == 0:
            raise http_error(422, f"The {role} file '{shown}' is empty.")
        declared = (upload.content_type or "").lower()
        if video:
            ext = await asyncio.to_thread(_check_video, tmp, declared, f"The {role} file '{shown}'")
        else:
            ext = await _check_image(tmp, declared, role, shown, max_pixels)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    name = f"{stem}{ext}"
    tmp.replace(d / name)
    return name, shown


def _check_video(path: Path, declared: str, what: str) -> str:
    ext = _video_ext(path)
    if ext is None or not (declared.startswith("video/") or declared in ("", "application/octet-stream")):
        raise http_error(422, f"{what} is not a video this server accepts (MP4, WebM, MOV, MKV or AVI).")
    try:  # its first frame decoded now: a broken or empty video is refused here, not in a failed job
        atelier.video_info(path)
    except atelier.errors.AtelierError:
        raise http_error(422, f"{what} is not a video atelier can read: it is damaged or holds no frames.") from None
    return ext


async def _check_image(path: Path, declared: str, role: str, shown: str, max_pixels: int) -> str:
    what = f"The {role} file '{shown}'"
    if declared and not declared.startswith("image/") and declared != "application/octet-stream":
        raise http_error(422, f"{what} is {declared}, not an image ({IMAGE_KINDS}).")
    try:
        loaded = await asyncio.to_thread(atelier.read_image, path, max_pixels=max_pixels, long_side=64)
    except atelier.errors.ImageTooLargeError:
        raise http_error(413, f"The {role} image '{shown}' has more than {max_pixels / 1e6:g} million pixels, "
                         "the limit of this server.") from None
    except atelier.errors.AtelierError:
        raise http_error(422, f"{what} is not an image atelier can read ({IMAGE_KINDS}).") from None
    ext = IMAGE_FORMATS.get(str(loaded.info.get("format", "")).upper())
    if ext is None:
        raise http_error(422, f"{what} is a {loaded.info.get('format', 'unknown')} image; this server accepts "
                         f"{IMAGE_KINDS}.")
    return ext


def _copy_to(src, path: Path) -> None:
    with open(path, "wb") as f:
        shutil.copyfileobj(src, f, MB)


def _video_ext(path: Path) -> str | None:
    """The stored extension of a video recognised by its first bytes (MP4/MOV, WebM/MKV, AVI), else None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] == b"ftyp":
        return ".mov" if head[8:10] == b"qt" else ".mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return ".mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    return None
