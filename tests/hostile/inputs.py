"""Hostile inputs, made at test time from tiny images (nothing binary is committed): files, models, videos
and training folders. Each builder takes the folder to write into and returns the path it made."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def photo(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A smooth (H,W,3) uint8 picture with some texture: every method has something to work with."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * x + seed), np.cos(5 * y + 2 * seed), np.sin(4 * (x + y))], -1)
    img = 0.5 + 0.35 * img + 0.1 * rng.standard_normal((h, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def save(folder: Path, name: str, arr: np.ndarray | None = None, **kw) -> Path:
    path = folder / name
    Image.fromarray(photo() if arr is None else arr).save(path, **kw)
    return path


def encoded(fmt: str, arr: np.ndarray | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo(48, 64) if arr is None else arr).save(buf, format=fmt)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ bad images

def truncated(fmt: str, suffix: str):
    def make(folder: Path) -> Path:
        data = encoded(fmt)
        path = folder / f"cut{suffix}"
        path.write_bytes(data[: len(data) // 2])
        return path
    return make


def bomb(folder: Path) -> Path:
    """A PNG whose header says 50000x50000 pixels (2.5 G) over a few bytes of data: refused from the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 50000, 50000, 1, 0, 0, 0, 0)  # 1-bit gray
    body = zlib.compress(b"\0" * 6251 * 64)  # the first rows only
    path = folder / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def fifo(folder: Path) -> Path:
    path = folder / "pipe.png"
    os.mkfifo(path)
    return path


def random_bytes(folder: Path) -> Path:
    path = folder / "noise.png"
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    return path


def empty(folder: Path) -> Path:
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path


def directory(folder: Path) -> Path:
    path = folder / "album.png"
    path.mkdir()
    return path


# --------------------------------------------------------------------------- unusual but valid images

def gray16(folder: Path) -> Path:
    ramp = (np.linspace(0, 65535, 24 * 32).reshape(24, 32)).astype(np.uint16)
    path = folder / "gray16.png"
    Image.fromarray(ramp).save(path)
    return path


def rgb16(folder: Path) -> Path:
    import cv2

    path = folder / "rgb16.png"
    cv2.imwrite(str(path), photo().astype(np.uint16) * 257)
    return path


def cmyk(folder: Path) -> Path:
    path = folder / "print.jpg"
    Image.fromarray(photo()).convert("CMYK").save(path, quality=90)
    return path


def palette_alpha(folder: Path) -> Path:
    img = Image.fromarray(photo()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img.info["transparency"] = 0
    path = folder / "palette.png"
    img.save(path, transparency=0)
    return path


def rgba_holes(folder: Path) -> Path:
    arr = np.dstack([photo(), np.full((24, 32), 255, np.uint8)])
    arr[:, :8, 3] = 0
    return save(folder, "holes.png", arr)


def animated_gif(folder: Path) -> Path:
    frames = [Image.fromarray(photo(seed=i)) for i in range(3)]
    path = folder / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def multipage_tiff(folder: Path) -> Path:
    frames = [Image.fromarray(photo(seed=i)) for i in range(2)]
    path = folder / "pages.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def exif_rotated(folder: Path) -> Path:
    """Stored 32 wide, 24 high, with EXIF orientation 6 (rotate 90°): displayed 24 wide, 32 high."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return save(folder, "phone.jpg", photo(24, 32), exif=exif.tobytes(), quality=90)


def one_pixel(folder: Path) -> Path:
    return save(folder, "dot.png", np.full((1, 1, 3), 200, np.uint8))


def named(name: str):
    def make(folder: Path) -> Path:
        return save(folder, name)
    return make


def png_named_jpg(folder: Path) -> Path:
    path = folder / "really-a-png.jpg"
    path.write_bytes(encoded("PNG", photo()))
    return path


# ------------------------------------------------------------------------------------------------ models

def truncated_model(folder: Path, real: Path) -> Path:
    data = real.read_bytes()
    path = folder / "cut.safetensors"
    path.write_bytes(data[: len(data) // 2])
    return path


def headerless_model(folder: Path) -> Path:
    """A valid safetensors file without atelier's header."""
    import torch
    from safetensors.torch import save_file

    path = folder / "plain.safetensors"
    save_file({"w": torch.zeros(2, 2)}, str(path))
    return path


def garbage_model(folder: Path) -> Path:
    path = folder / "garbage.safetensors"
    path.write_bytes(b"\xff" * 8 + b"not json at all")
    return path


# ------------------------------------------------------------------------------------------------ videos

def clip(folder: Path, frames: int = 3, name: str = "clip.mp4") -> Path:
    import av

    path = folder / name
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(photo(seed=i), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def frame_folder(folder: Path, numbers=(1, 2, 3), name: str = "frames") -> Path:
    d = folder / name
    d.mkdir()
    for n in numbers:
        save(d, f"frame_{n:04d}.png", photo(seed=n))
    return d


def corrupt_video(folder: Path) -> Path:
    path = folder / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return path


def zero_frame_video(folder: Path) -> Path:
    """An MP4 with a sound track and no video frame (a video stream without frames is not even written)."""
    import av

    path = folder / "nothing.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    assert path.stat().st_size > 0
    return path


# ------------------------------------------------------------------------------------------ training data

def photo_folder(folder: Path, n: int = 2, name: str = "photos") -> Path:
    d = folder / name
    d.mkdir()
    for i in range(n):
        save(d, f"p{i}.png", photo(40, 40, seed=10 + i))
    return d


def bad_photo_folder(folder: Path) -> Path:
    d = folder / "bad-photos"
    d.mkdir()
    (d / "a.jpg").write_bytes(b"")
    (d / "b.png").write_bytes(b"not an image")
    return d
