"""Reading and writing images: the only module of atelier that knows PIL, uint8, EXIF, alpha, ICC and 16-bit.

Everything that leaves this module follows the library's one image convention: a torch float32 RGB
tensor with values in [0, 1] and shape (B, 3, H, W) (B is 1 for a loaded image).

Reading (``read_image`` / ``load_image``) accepts a path, a PIL image, a numpy array, a tensor, or raw
bytes / a binary file object, and handles inputs deliberately:

* The pixel count is checked from the header before anything is decoded (protection against
  decompression bombs); the limit is ``DEFAULT_MAX_PIXELS`` or the environment variable
  ``ATELIER_MAX_PIXELS`` and raises ``ImageTooLargeError``.
* EXIF orientation is applied, so a phone photo comes out the way it is displayed.
* Grayscale is replicated to 3 channels; 16-bit and 32-bit gray keep their precision (no trip
  through 8 bits); CMYK, YCbCr, LAB and HSV are converted to RGB; an embedded non-sRGB ICC profile
  (e.g. Adobe RGB) is converted to sRGB. What was done is recorded in ``LoadedImage.info``.
* Transparency: the RGB is composited over WHITE (``rgb = rgb * a + (1 - a)``) so transparent areas do
  not feed garbage to the network, and the alpha is returned separately so callers can reattach it
  to the output (``save_image(..., alpha=...)``). A fully opaque alpha is returned as ``None``.

Writing (``save_image``, ``write_json``) is atomic: a temporary file in the same directory is written
and then moved over the target with ``os.replace``, so a failure never leaves a partial output. Outputs
never overwrite an input, and only overwrite an existing file when asked to. ``save_image`` is the one
function that writes images (results, snapshots, previews, video frames, contact sheets, charts): given a
provenance record (``metadata=``, see :mod:`atelier.provenance`) it embeds it in the file (PNG iTXt, JPEG /
WebP XMP and EXIF, TIFF XMP); ``read_metadata`` reads it back.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from atelier import provenance, watermark
from atelier.errors import AtelierError, ImageTooLargeError, InputError, OptionError, OutputError
from atelier.paths import check_input_file

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS: int = 100_000_000
READ_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
WRITE_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}

# PIL's decompression-bomb limit is process-global; we swap it out while opening (our own limit
# replaces it) and serialise those swaps so concurrent reads (web app threads) restore it correctly.
_PIL_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _open_without_pil_limit(source):
    """``Image.open(source)`` with PIL's bomb check off (the callers check their own pixel limit, or read
    the header only)."""
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(source) as img:
                yield img
        finally:
            Image.MAX_IMAGE_PIXELS = saved


@dataclass
class LoadedImage:
    """A decoded image: ``rgb`` (1,3,H,W) float32 in [0,1], already composited over white."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None  # (1,1,H,W) float32 in [0,1]; None when fully opaque
    path: Path | None = None
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# Reading


def _max_pixels(max_pixels: int | None) -> int:
    """The pixel limit: the argument, else $ATELIER_MAX_PIXELS (read now), else the default."""
    if max_pixels is None:
        env = os.environ.get("ATELIER_MAX_PIXELS", "").strip()
        if not env:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(env)
        except ValueError:
            raise OptionError(f"ATELIER_MAX_PIXELS must be a whole number of pixels, got '{env}'.") from None
    if max_pixels < 1:
        raise OptionError(f"The pixel limit must be at least 1, got {max_pixels}.")
    return max_pixels


def _check_pixels(name: str, width: int, height: int, limit: int) -> None:
    if width < 1 or height < 1:
        raise InputError(f"Image {name} is empty ({width}x{height} pixels).")
    if width * height > limit:
        raise ImageTooLargeError(
            f"Image {name} is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,} "
            "pixels (raise it with the environment variable ATELIER_MAX_PIXELS)."
        )


def _reason(exc: BaseException) -> str:
    """A short, one-line reason from a PIL/OS exception, without a trailing period."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, Image.UnidentifiedImageError):
        text = "not a recognised image format"
    elif isinstance(exc, PermissionError):
        text = "permission denied"
    return text.rstrip(".")


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    try:
        return "srgb" in ImageCms.getProfileDescription(profile).lower()
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return False


def _to_srgb(img: Image.Image, icc: bytes | None, info: dict) -> Image.Image:
    """Convert an RGB or CMYK image to sRGB RGB through its embedded ICC profile, if any."""
    if not icc:
        info["icc"] = "none"
        return img.convert("RGB")
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if img.mode == "RGB" and _is_srgb(profile):
            info["icc"] = "sRGB"
            return img
        out = ImageCms.profileToProfile(img, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
        info["icc"] = "converted to sRGB"
        return out
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError) as exc:
        logger.warning("Could not apply the embedded ICC profile (%s); using the raw values.", _reason(exc))
        info["icc"] = "conversion failed, raw values used"
        return img.convert("RGB")


def _normalize(img: Image.Image, info: dict) -> Image.Image:
    """Turn any PIL mode into "RGB", "RGBA" (8-bit) or "F" (high-precision gray in [0,1])."""
    mode = img.mode
    icc = img.info.get("icc_profile")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit) gray: keep the precision, scale 0..65535 -> 0..1.
        info["bits"] = 16 if mode.startswith("I;16") else 32
        gray = np.asarray(img).astype(np.float32) / 65535.0
        return Image.fromarray(np.clip(gray, 0.0, 1.0), mode="F")
    if mode == "F":
        info["bits"] = 32
        return Image.fromarray(np.clip(np.nan_to_num(np.asarray(img, dtype=np.float32)), 0.0, 1.0), mode="F")
    if mode in ("1", "L"):
        return img.convert("L").convert("RGB")
    if mode == "P":
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if mode == "La":
        # Premultiplied gray + alpha has no direct PIL conversion; go through premultiplied RGBa.
        gray, a = img.split()
        return Image.merge("RGBa", (gray, gray, gray, a)).convert("RGBA")
    if mode in ("LA", "PA", "RGBa"):
        return img.convert("RGBA")
    if mode == "RGBA":
        if icc:  # colour-manage the colour channels, keep the alpha untouched
            rgb = _to_srgb(img.convert("RGB"), icc, info)
            rgb.putalpha(img.getchannel("A"))
            return rgb
        return img
    if mode in ("RGB", "CMYK"):
        return _to_srgb(img, icc, info)
    if mode == "LAB":
        try:
            lab = ImageCms.createProfile("LAB")
            return ImageCms.profileToProfile(img, lab, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            return img.convert("RGB")
    # YCbCr, HSV, RGBX and anything else PIL knows how to convert.
    return img.convert("RGB")


def _arrays_from_pil(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(H,W,3) float32 rgb and (H,W) float32 alpha (or None) from an "RGB"/"RGBA"/"F" image."""
    if img.mode == "F":
        gray = np.asarray(img, dtype=np.float32)
        return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2), None
    arr = np.asarray(img, dtype=np.float32) / 255.0  # (H,W,3) or (H,W,4)
    return arr[..., :3], (arr[..., 3] if arr.shape[2] == 4 else None)


def _arrays_from_numpy(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(H,W,3) rgb and (H,W) alpha float32 from an (H,W) / (H,W,1|2|3|4) uint8, uint16 or float array."""
    name = "the given numpy array"
    if arr.ndim == 3 and arr.shape[2] in (1, 2, 3, 4):
        pass
    elif arr.ndim != 2:
        raise InputError(f"Image {name} has shape {tuple(arr.shape)}; expected (H,W), (H,W,3) or (H,W,4).")
    if arr.size == 0:
        raise InputError(f"Image {name} is empty (shape {tuple(arr.shape)}).")
    if arr.dtype == np.uint8:
        data = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        data = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_:
        data = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        data = arr.astype(np.float32)
        if not np.isfinite(data).all():
            raise InputError(f"Image {name} contains NaN or infinite values.")
        data = np.clip(data, 0.0, 1.0)
    else:
        raise InputError(f"Image {name} has dtype {arr.dtype}; expected uint8, uint16 or float.")
    if data.ndim == 2:
        data = data[..., None]
    channels = data.shape[2]
    color = data[..., :3] if channels >= 3 else np.repeat(data[..., :1], 3, axis=2)
    alpha = data[..., channels - 1] if channels in (2, 4) else None
    return color, alpha


def _finish(
    rgb: torch.Tensor, alpha: torch.Tensor | None, long_side: int | None, info: dict, path: Path | None
) -> LoadedImage:
    """Composite (1,3,H,W) rgb over white with its (1,1,H,W) alpha, drop an opaque alpha, resize."""
    if alpha is not None:
        if bool((alpha >= 1.0).all()):
            alpha = None
        else:
            rgb = rgb * alpha + (1.0 - alpha)
            info["alpha"] = "composited over white"
    size = None if long_side is None else fit_size(rgb.shape[-2], rgb.shape[-1], long_side)
    if size is not None and size != tuple(rgb.shape[-2:]):
        rgb = resize(rgb, size)
        alpha = None if alpha is None else resize(alpha, size)
        info["resized_to"] = [size[1], size[0]]
    return LoadedImage(rgb=rgb.float().clamp(0.0, 1.0).contiguous(), alpha=alpha, path=path, info=info)


def _read_pil(
    img: Image.Image, name: str, path: Path | None, limit: int, long_side: int | None
) -> LoadedImage:
    """Decode a (possibly still lazy) PIL image; the pixel check runs before any decoding."""
    width, height = img.size
    _check_pixels(name, width, height, limit)
    info: dict = {"mode": img.mode, "size": [width, height]}
    if img.format:
        info["format"] = img.format
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        info["frames"] = frames
        logger.info("Image %s has %d frames; using the first.", name, frames)
    img.load()  # decode now, so decoding errors surface here (PNG's getexif() would load and hide them)
    try:
        orientation = img.getexif().get(0x0112, 1)
    except (OSError, ValueError, TypeError, KeyError, SyntaxError):  # a corrupt EXIF block is ignored
        orientation = 1
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        info["exif_orientation"] = int(orientation)
    img = _normalize(img, info)
    if long_side is not None:
        # Resize the decoded image with LANCZOS (PIL premultiplies RGBA internally, so no colour fringes).
        size = fit_size(img.height, img.width, long_side)
        if size != (img.height, img.width):
            img = img.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            info["resized_to"] = [size[1], size[0]]
    color, alpha = _arrays_from_pil(img)
    rgb = torch.from_numpy(np.ascontiguousarray(color)).permute(2, 0, 1)[None]  # (H,W,3) -> (1,3,H,W)
    a = None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha))[None, None]  # (1,1,H,W)
    return _finish(rgb, a, None, info, path)


def _read_file(source, limit: int, long_side: int | None) -> LoadedImage:
    """Open ``source`` (a path, bytes or a binary file object), check its size and decode it."""
    path: Path | None = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        name = f"'{path}'"
        check_input_file(path)  # missing, a directory, or a FIFO (whose read would block forever)
        opened = path
    else:
        name = "data"
        opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        # Our own limit (checked in _read_pil before decoding) replaces PIL's bomb check.
        with _open_without_pil_limit(opened) as img:
            return _read_pil(img, name, path, limit, long_side)
    except AtelierError:
        raise
    except Exception as exc:  # PIL raises many types (OSError, ValueError, SyntaxError, ...); none may leak
        raise InputError(f"Cannot read {name} as an image: {_reason(exc)}.") from exc


def read_image(source, *, max_pixels: int | None = None, long_side: int | None = None) -> LoadedImage:
    """Load ``source`` as (1,3,H,W) float32 RGB in [0,1] composited over white, plus alpha and info.

    ``source``: a path, a PIL image, a numpy array ((H,W) or (H,W,3|4); uint8, uint16 or float in
    [0,1]), a tensor ((3,H,W) or (1,3,H,W) float in [0,1]), or bytes / a binary file object.
    ``long_side``: resize so that the longer side has this many pixels (up or down).
    """
    if long_side is not None and long_side < 1:
        raise OptionError(f"The image size (long side) must be at least 1 pixel, got {long_side}.")
    limit = _max_pixels(max_pixels)
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(source, "read"):
        return _read_file(source, limit, long_side)
    if isinstance(source, Image.Image):
        try:  # _read_pil checks the size first and never modifies the caller's image
            return _read_pil(source, "the given PIL image", None, limit, long_side)
        except AtelierError:
            raise
        except Exception as exc:
            raise InputError(f"Cannot read the given PIL image: {_reason(exc)}.") from exc
    if isinstance(source, np.ndarray):
        color, alpha = _arrays_from_numpy(source)
        _check_pixels("the given numpy array", color.shape[1], color.shape[0], limit)
        rgb = torch.from_numpy(np.ascontiguousarray(color)).permute(2, 0, 1)[None]  # (1,3,H,W)
        a = None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha))[None, None]
        info = {"mode": f"numpy {source.dtype}", "size": [color.shape[1], color.shape[0]]}
        return _finish(rgb, a, long_side, info, None)
    if isinstance(source, torch.Tensor):
        t = source.detach()
        if t.dim() == 3:
            t = t[None]  # (3,H,W) -> (1,3,H,W)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
            raise InputError(
                f"The given tensor has shape {tuple(source.shape)}; expected (3,H,W) or (1,3,H,W)."
            )
        if not t.is_floating_point():
            raise InputError(f"The given tensor has dtype {t.dtype}; expected floats in [0,1].")
        _check_pixels("the given tensor", t.shape[3], t.shape[2], limit)
        if not bool(torch.isfinite(t).all()):
            raise InputError("The given tensor contains NaN or infinite values.")
        info = {"mode": "tensor", "size": [t.shape[3], t.shape[2]]}
        return _finish(t.float(), None, long_side, info, None)
    raise InputError(
        f"A {type(source).__name__} is not an image: expected a path, PIL image, numpy array or tensor."
    )


def load_image(
    source, *, long_side: int | None = None, max_pixels: int | None = None, device=None
) -> torch.Tensor:
    """Just the (1,3,H,W) float32 RGB of ``read_image`` (alpha composited over white), on ``device``."""
    rgb = read_image(source, max_pixels=max_pixels, long_side=long_side).rgb
    return rgb if device is None else rgb.to(device)


# ----------------------------------------------------------------------------------------------------
# Sizes


def fit_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with max(h, w) == long_side, the aspect ratio kept (rounded), each side at least 1."""
    if long_side < 1:
        raise OptionError(f"The image size (long side) must be at least 1 pixel, got {long_side}.")
    if height < 1 or width < 1:
        raise ValueError(f"fit_size needs a non-empty size, got {height}x{width}")
    if height >= width:
        return long_side, max(1, round(width * long_side / height))
    return max(1, round(height * long_side / width)), long_side


def machine_memory_bytes() -> int | None:
    """This machine's physical memory (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_work_size(hw, *, what: str = "The output", peak_bytes: float | None = None,
                    max_pixels: int | None = None) -> None:
    """Refuse, before any work, an image of (h, w) pixels that a run would make (an output, a texture, an
    evaluation size) when it is over the pixel limit (``ATELIER_MAX_PIXELS``, the inputs' limit) or when
    ``peak_bytes``, the method's estimate of its peak memory (default: 48 bytes per pixel, four fp32 RGB
    copies), is over this machine's memory. The sentence gives the estimate."""
    h, w = int(hw[0]), int(hw[1])
    need = peak_bytes if peak_bytes is not None else 48.0 * h * w
    limit, ram = _max_pixels(max_pixels), machine_memory_bytes()
    estimate = f"{w}x{h} = {w * h:,} pixels, about {need / 2**30:,.1f} GiB of memory"
    if h * w > limit:
        raise OptionError(f"{what} would be {estimate}: over the limit of {limit:,} pixels (raise it with the "
                          "environment variable ATELIER_MAX_PIXELS); reduce the size.")
    if ram is not None and need > ram:
        raise OptionError(f"{what} would be {estimate}: more than this machine's {ram / 2**30:.1f} GiB; "
                          "reduce the size.")


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,h,w), bicubic (antialiased when shrinking), clamped to [0,1]."""
    h, w = int(size[0]), int(size[1])
    if image.dim() != 4:
        raise ValueError(f"resize expects (B,C,H,W), got shape {tuple(image.shape)}")
    if (h, w) == tuple(image.shape[-2:]):
        return image
    shrinking = h < image.shape[-2] or w < image.shape[-1]
    out = F.interpolate(image.float(), size=(h, w), mode="bicubic", align_corners=False, antialias=shrinking)
    return out.clamp(0.0, 1.0)  # bicubic overshoots at edges


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """(B,C,H,W) resized so that max(H, W) == long_side, aspect ratio kept."""
    return resize(image, fit_size(image.shape[-2], image.shape[-1], long_side))


# ----------------------------------------------------------------------------------------------------
# Writing


def to_pil(image: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """(1,3,H,W) or (3,H,W) float in [0,1] (+ optional (1,1,H,W) alpha) -> 8-bit RGB/RGBA, rounded."""
    t = image.detach().cpu().float()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_pil converts one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"to_pil expects (1,3,H,W) or (3,H,W), got shape {tuple(image.shape)}")

    def to_uint8(x: torch.Tensor) -> np.ndarray:  # rounding, not truncation: 0.5/255 -> 1
        return (torch.nan_to_num(x).clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).numpy()

    rgb = to_uint8(t.permute(1, 2, 0))  # (3,H,W) -> (H,W,3)
    if alpha is None:
        return Image.fromarray(rgb, mode="RGB")
    a = alpha.detach().cpu().float().reshape(1, 1, *alpha.shape[-2:])  # (H,W)/(1,H,W)/(1,1,H,W)
    if tuple(a.shape[-2:]) != tuple(t.shape[-2:]):  # e.g. the output was made at another size
        a = resize(a, tuple(t.shape[-2:]))
    return Image.fromarray(np.dstack([rgb, to_uint8(a[0, 0])]), mode="RGBA")


def _output_format(path: Path) -> str:
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(WRITE_FORMATS)
        raise OutputError(
            f"Cannot write '{path}': unsupported extension '{path.suffix}' (use one of {supported})."
        )
    return fmt


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output_path(path, *, overwrite: bool = False, inputs: Iterable = ()) -> Path:
    """Check that an image may be written to ``path`` (writes nothing); returns the resolved Path."""
    path = Path(path).expanduser()
    _output_format(path)
    for source in inputs:
        if isinstance(source, (str, os.PathLike)) and same_file(path, Path(source).expanduser()):
            raise OutputError(f"Refusing to write '{path}': it is one of the input images.")
    if path.is_dir():
        raise OutputError(f"Cannot write '{path}': it is a directory.")
    if path.exists() and not overwrite:
        raise OutputError(f"Output '{path}' already exists (use --overwrite to replace it).")
    ancestor = path.resolve().parent
    while not ancestor.exists():  # the missing part will be created; what exists must be a writable dir
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"Cannot write '{path}': '{ancestor}' is a file, not a directory.")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"Cannot write '{path}': directory '{ancestor}' is not writable.")
    return path.resolve()


def _is_input(path: Path, inputs: Iterable) -> bool:
    return any(isinstance(s, (str, os.PathLike)) and same_file(path, Path(s).expanduser()) for s in inputs)


def check_derived(files: Iterable = (), *, inputs: Iterable = (), overwrite: bool = False,
                  patterns: Iterable[tuple[Path, str]] = ()) -> None:
    """Check the files atelier derives from an output's name (its sidecar, snapshots, a preview, a
    checkpoint, a frame folder) like the output itself, before any work: none may be an input (not even
    with ``overwrite``), stand where a directory is, or replace an existing file unless ``overwrite``.
    ``patterns``: (folder, regex) for a family of names not known in advance (``OUT.iter00001.png`` ...):
    no input and (without ``overwrite``) no existing file in that folder may match. Writes nothing."""
    inputs = [Path(s).expanduser() for s in inputs if isinstance(s, (str, os.PathLike))]
    for f in map(Path, files):
        if _is_input(f, inputs):
            raise OutputError(f"Refusing to write '{f}' (made beside the output): it is one of the inputs.")
        if f.is_dir():
            raise OutputError(f"Cannot write '{f}' (made beside the output): it is a directory.")
        if f.exists() and not overwrite:
            raise OutputError(f"'{f}' already exists and would be replaced by the output's companion file "
                              "(use --overwrite to replace it, or choose another output name).")
    for folder, regex in patterns:
        for src in inputs:
            if same_file(src.parent, Path(folder)) and re.fullmatch(regex, src.name):
                raise OutputError(f"Refusing to run: the input '{src}' has the name of a file this run writes "
                                  "beside the output; rename it or choose another output name.")
        if not overwrite and Path(folder).is_dir():
            clash = next((p for p in sorted(Path(folder).iterdir()) if re.fullmatch(regex, p.name)), None)
            if clash is not None:
                raise OutputError(f"'{clash}' already exists and would be replaced by this run (use --overwrite "
                                  "to replace it, or choose another output name).")


def snapshot_path(output, iteration: int) -> Path:
    """'out.png', 7 -> 'out.iter00007.png': the intermediate images of ``--save-every``."""
    out = Path(output)
    return out.with_name(f"{out.stem}.iter{iteration:05d}{out.suffix or '.png'}")


def snapshot_pattern(output) -> tuple[Path, str]:
    """(folder, regex) of every ``snapshot_path(output, n)``, for :func:`check_derived`."""
    out = Path(output).expanduser()
    return out.parent, re.escape(out.stem) + r"\.iter\d{5,}" + re.escape(out.suffix or ".png")


def plan_outputs(output, *, inputs: Iterable = (), overwrite: bool = False, sidecar: bool = True,
                 snapshots: bool = False) -> Path:
    """Check everything a run writes for ``output`` before any work: the image (``check_output_path``), its
    JSON sidecar and, with ``snapshots``, the ``--save-every`` images. Returns the resolved output path."""
    inputs = list(inputs)
    path = check_output_path(output, overwrite=overwrite, inputs=inputs)
    check_derived([sidecar_path(path)] if sidecar else [], inputs=inputs, overwrite=overwrite,
                  patterns=[snapshot_pattern(path)] if snapshots else [])
    return path


def remove_stale_temporaries(path) -> None:
    """Remove the '.<name>.tmpXXXX' files that ``atomic_write`` left for ``path`` in a process that was
    killed (SIGKILL, power loss): a later run of the same output cleans them up."""
    path = Path(path).expanduser()
    if path.parent.is_dir():
        for p in path.parent.glob(f".{glob.escape(path.name)}.tmp*"):
            if p.is_file():
                p.unlink(missing_ok=True)


def _new_file_mode(target: Path) -> int:
    """Permissions for a new file: those of the file it replaces, else 0o666 minus the umask."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path, write_fn: Callable[[Path], object]) -> Path:
    """Call ``write_fn(tmp_path)`` on a temp file next to ``path``, then move it over ``path``.

    The temp file (".<name>.tmpXXXX" in the same directory, so os.replace is atomic) is removed on any
    failure: either the complete new file is at ``path`` or nothing changed.
    """
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write '{path}': {_reason(exc)}.") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_fn(tmp)
        os.chmod(tmp, _new_file_mode(path))  # mkstemp creates 0o600
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # e.g. a full disk (ENOSPC): the file at ``path`` is as it was
            why = exc.strerror or _reason(exc)  # "No space left on device", not "[Errno 28] No space ..."
            kept = " (the earlier file there is unchanged)" if path.exists() else ""
            raise OutputError(f"Cannot write '{path}': {why}{kept}.") from exc
        raise
    return path


def _as_pil(image, alpha: torch.Tensor | None) -> Image.Image:
    """An "RGB"/"RGBA" PIL image from a tensor, a PIL image or an (H,W,3) uint8 array (video frames)."""
    if isinstance(image, Image.Image):
        pil = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        if alpha is not None:
            pil = to_pil(torch.from_numpy(np.asarray(pil.convert("RGB"))).permute(2, 0, 1) / 255.0, alpha)
        return pil
    if isinstance(image, torch.Tensor):
        return to_pil(image, alpha)
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    raise TypeError(f"save_image expects a tensor, a PIL image or an (H,W,3) uint8 array, got {type(image).__name__}")


# JPEG's APP1 segment holds at most 65,502 bytes of XMP; a record that large (thousands of option values)
# keeps everything but its options.
_MAX_XMP = 60_000


def _metadata_options(fmt: str, metadata: dict | None) -> dict:
    """PIL save keywords that embed a provenance record: PNG iTXt chunks ("XML:com.adobe.xmp", the XMP
    packet, and "atelier", the JSON record), JPEG/WebP XMP plus EXIF Software and ImageDescription, TIFF
    XMP (tag 700). BMP has no place for it (the JSON sidecar still says it)."""
    if not metadata:
        return {}
    xmp = provenance.to_xmp(metadata)
    if len(xmp.encode()) > _MAX_XMP:
        metadata = {**{k: v for k, v in metadata.items() if k != "options"}, "options": "omitted (too large)"}
        xmp = provenance.to_xmp(metadata)
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp)
        info.add_itxt(provenance.PNG_KEY, provenance.to_json(metadata), zip=True)
        return {"pnginfo": info}
    software = f"atelier {metadata.get('atelier', '')}".strip()
    if fmt in ("JPEG", "WEBP"):
        exif = Image.Exif()
        exif[0x0131] = software  # Software
        exif[0x010E] = provenance.summary(metadata)  # ImageDescription
        return {"xmp": xmp.encode(), "exif": exif.tobytes()}
    if fmt == "TIFF":
        return {"tiffinfo": {700: xmp.encode(), 305: software}}
    return {}


def save_image(
    image,
    path,
    *,
    overwrite: bool = False,
    inputs: Iterable = (),
    alpha: torch.Tensor | None = None,
    quality: int = 95,
    metadata: dict | None = None,
    fast: bool = False,
    mark: bool = False,
) -> Path:
    """Save a (1,3,H,W)/(3,H,W) tensor in [0,1], a PIL image or an (H,W,3) uint8 array; the format comes
    from the extension. The only function of atelier that writes an image file.

    ``alpha`` (1,1,H,W) is written as RGBA for PNG, WebP and TIFF, and dropped for JPEG and BMP.
    ``metadata``: a provenance record (:func:`atelier.provenance.record`) embedded in the file; None writes
    none (``--no-metadata``). ``fast``: PNG at zlib level 1 with run-length matching (video frames: 115 ms
    for a 1280x720 frame against 140 ms at level 1's default matching, same size; measured under load).
    ``mark``: add the invisible watermark of :mod:`atelier.watermark` to the pixels (``--watermark``).
    Refuses to overwrite an input (always) or an existing file (unless ``overwrite``). Atomic.
    """
    if not 1 <= quality <= 100:
        raise OptionError(f"The image quality must be between 1 and 100, got {quality}.")
    inputs = list(inputs)
    target = check_output_path(path, overwrite=overwrite, inputs=inputs)
    fmt = _output_format(target)
    pil = _as_pil(image, alpha)
    if pil.mode == "RGBA" and fmt not in _ALPHA_FORMATS:
        logger.info("%s cannot store transparency; saving '%s' without alpha (over white).", fmt, target)
        white = Image.new("RGB", pil.size, (255, 255, 255))
        white.paste(pil, mask=pil.getchannel("A"))
        pil = white
    if mark:
        marked = Image.fromarray(watermark.embed(np.asarray(pil.convert("RGB"))), mode="RGB")
        if pil.mode == "RGBA":
            marked.putalpha(pil.getchannel("A"))
        pil = marked
    png = {"compress_level": 1, "compress_type": 3} if fast else {"compress_level": 6}  # 3: zlib's Z_RLE
    options: dict = {"JPEG": {"quality": quality}, "WEBP": {"quality": quality}, "PNG": png}.get(fmt, {})
    options = {**options, **_metadata_options(fmt, metadata)}
    atomic_write(target, lambda tmp: pil.save(tmp, format=fmt, **options))
    logger.debug("Saved %s (%dx%d, %s).", target, pil.width, pil.height, pil.mode)
    return target


def read_metadata(path) -> dict | None:
    """The provenance record embedded by :func:`save_image` (PNG's "atelier" chunk, else the XMP of any
    format), or None if the image carries none. Reads the header only, never the pixels."""
    path = Path(path).expanduser()
    try:
        with _open_without_pil_limit(path) as img:
            info = dict(img.info)
    except Exception as exc:  # PIL raises many types; none may leak
        raise InputError(f"Cannot read '{path}' as an image: {_reason(exc)}.") from exc
    text = info.get(provenance.PNG_KEY)
    if isinstance(text, str):
        try:
            rec = json.loads(text)
            if isinstance(rec, dict):
                return rec
        except ValueError:
            pass
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    return provenance.from_xmp(xmp) if xmp else None


def sidecar_path(output) -> Path:
    """The JSON sidecar next to an output: "out.png" -> "out.png.json"."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def write_json(path, data: dict, *, overwrite: bool = True) -> Path:
    """Write ``data`` as UTF-8 JSON (indent 2, keys in insertion order, str() for Paths etc.), atomically."""
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise OutputError(f"Output '{path}' already exists (use --overwrite to replace it).")
    text = json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
