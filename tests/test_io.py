"""Tests of atelier.io: every image is generated here with PIL/numpy (no data files)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from atelier import io as aio
from atelier.errors import ImageTooLargeError, InputError, OptionError, OutputError


def gradient(width: int = 24, height: int = 16) -> np.ndarray:
    """(H,W,3) uint8 test pattern with distinct values per channel."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], axis=2).astype(np.uint8)


def to_hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height RGB whose pixel data (IDAT) is 4 garbage bytes: it cannot decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"junk")


# ---------------------------------------------------------------------------------------------- reading


def test_png_round_trip(tmp_path):
    arr = gradient()
    Image.fromarray(arr).save(tmp_path / "a.png")
    loaded = aio.read_image(tmp_path / "a.png")
    assert loaded.rgb.shape == (1, 3, 16, 24) and loaded.rgb.dtype == torch.float32
    assert loaded.alpha is None and loaded.path == tmp_path / "a.png"
    assert np.abs(to_hwc(loaded.rgb) - arr / 255.0).max() < 1 / 255 + 1e-6
    out = aio.save_image(loaded.rgb, tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(out)), arr)  # exact: rounding, not truncation


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"])
def test_other_formats_read(tmp_path, ext):
    arr = gradient()
    Image.fromarray(arr).save(tmp_path / f"a{ext}")
    rgb = aio.load_image(str(tmp_path / f"a{ext}"))
    assert rgb.shape == (1, 3, 16, 24)
    tolerance = 0.12 if ext in (".jpg", ".jpeg", ".webp") else 1e-6
    assert np.abs(to_hwc(rgb) - arr / 255.0).mean() < tolerance


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.fromarray(gradient(40, 20)).save(tmp_path / "phone.jpg", exif=exif)
    loaded = aio.read_image(tmp_path / "phone.jpg")
    assert loaded.rgb.shape == (1, 3, 40, 20)  # stored 40 wide x 20 high, displayed 20 wide x 40 high
    assert loaded.info["exif_orientation"] == 6


def test_grayscale_replicated(tmp_path):
    Image.fromarray(np.full((5, 7), 100, np.uint8), mode="L").save(tmp_path / "g.png")
    rgb = aio.load_image(tmp_path / "g.png")
    assert rgb.shape == (1, 3, 5, 7)
    assert torch.allclose(rgb, torch.full_like(rgb, 100 / 255))


def test_palette_with_transparency_composited_over_white(tmp_path):
    img = Image.new("P", (4, 2), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.save(tmp_path / "p.png", transparency=0)  # palette index 0 (black) is fully transparent
    loaded = aio.read_image(tmp_path / "p.png")
    assert loaded.alpha is not None and loaded.alpha.shape == (1, 1, 2, 4)
    assert loaded.alpha[0, 0, 0, 0] == 0 and loaded.alpha[0, 0, 1, 1] == 1
    assert torch.allclose(loaded.rgb[0, :, 0, 0], torch.ones(3))  # transparent black -> white
    assert torch.allclose(loaded.rgb[0, :, 1, 1], torch.tensor([1.0, 0.0, 0.0]))


def test_la_alpha_kept_and_composited(tmp_path):
    gray = np.zeros((3, 3), np.uint8)
    alpha = np.full((3, 3), 255, np.uint8)
    alpha[1, 1] = 0
    alpha[0, 0] = 128
    Image.fromarray(np.dstack([gray, alpha]), mode="LA").save(tmp_path / "la.png")
    loaded = aio.read_image(tmp_path / "la.png")
    assert loaded.alpha is not None
    assert loaded.alpha[0, 0, 1, 1] == 0 and abs(loaded.alpha[0, 0, 0, 0].item() - 128 / 255) < 1e-6
    assert torch.allclose(loaded.rgb[0, :, 1, 1], torch.ones(3))
    assert torch.allclose(loaded.rgb[0, :, 0, 0], torch.full((3,), 1 - 128 / 255), atol=1e-6)
    assert torch.allclose(loaded.rgb[0, :, 2, 2], torch.zeros(3))


def test_opaque_alpha_returns_none(tmp_path):
    Image.new("RGBA", (3, 3), (10, 20, 30, 255)).save(tmp_path / "o.png")
    assert aio.read_image(tmp_path / "o.png").alpha is None


def test_cmyk_converted(tmp_path):
    Image.new("CMYK", (6, 4), (0, 255, 255, 0)).save(tmp_path / "c.tif")  # pure red in CMYK
    loaded = aio.read_image(tmp_path / "c.tif")
    assert loaded.info["mode"] == "CMYK"
    assert torch.allclose(loaded.rgb[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]), atol=0.02)


def test_srgb_icc_profile_recognised(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(gradient()).save(tmp_path / "s.png", icc_profile=icc)
    loaded = aio.read_image(tmp_path / "s.png")
    assert loaded.info["icc"] == "sRGB"
    assert np.abs(to_hwc(loaded.rgb) - gradient() / 255.0).max() < 1e-6


def test_broken_icc_profile_warns_and_uses_raw_values(tmp_path, caplog):
    Image.fromarray(gradient()).save(tmp_path / "bad.png", icc_profile=b"not a profile" * 20)
    loaded = aio.read_image(tmp_path / "bad.png")
    assert loaded.info["icc"].startswith("conversion failed")
    assert "ICC" in caplog.text
    assert np.abs(to_hwc(loaded.rgb) - gradient() / 255.0).max() < 1e-6


def test_16bit_gray_keeps_precision(tmp_path):
    arr = np.full((4, 5), 1000, np.uint16)
    arr[0, 0] = 65535
    Image.fromarray(arr).save(tmp_path / "g16.png")
    loaded = aio.read_image(tmp_path / "g16.png")
    assert loaded.info["bits"] in (16, 32)
    assert abs(loaded.rgb[0, 0, 1, 1].item() - 1000 / 65535) < 1e-4  # 8-bit would give 0 or 1/255
    assert loaded.rgb[0, 2, 0, 0].item() == pytest.approx(1.0)


def test_numpy_and_tensor_sources():
    assert aio.load_image(np.full((2, 3), 65535, np.uint16)).shape == (1, 3, 2, 3)
    floats = aio.load_image(np.full((2, 3, 3), 1.5, np.float32))
    assert floats.max() == 1.0  # clipped
    rgba = aio.read_image(np.dstack([np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)]))
    assert rgba.alpha is not None and torch.allclose(rgba.rgb, torch.ones(1, 3, 2, 2))
    t = torch.rand(3, 5, 6)
    assert torch.equal(aio.load_image(t), t[None])
    assert aio.load_image(t, long_side=12).shape == (1, 3, 10, 12)
    assert aio.load_image(Image.new("RGB", (8, 4)), long_side=4).shape == (1, 3, 2, 4)


def test_bytes_source(tmp_path):
    Image.fromarray(gradient()).save(tmp_path / "a.png")
    loaded = aio.read_image((tmp_path / "a.png").read_bytes())
    assert loaded.rgb.shape == (1, 3, 16, 24) and loaded.path is None
    with pytest.raises(InputError, match="Cannot read data as an image"):
        aio.read_image(b"not an image")


def test_long_side_resizes_files_up_and_down(tmp_path):
    Image.fromarray(gradient(24, 16)).save(tmp_path / "a.png")
    assert aio.load_image(tmp_path / "a.png", long_side=12).shape == (1, 3, 8, 12)
    assert aio.load_image(tmp_path / "a.png", long_side=48).shape == (1, 3, 32, 48)
    with pytest.raises(OptionError):
        aio.load_image(tmp_path / "a.png", long_side=0)


def test_pixel_limit_checked_before_decoding(tmp_path, monkeypatch):
    # Header-only files: decoding would fail, so the error proves the check runs first.
    (tmp_path / "bomb.png").write_bytes(png_header_only(20_000, 20_000))  # 400 Mpx, over PIL's own limit
    with pytest.raises(ImageTooLargeError, match="100,000,000"):
        aio.read_image(tmp_path / "bomb.png")
    (tmp_path / "small.png").write_bytes(png_header_only(10, 10))
    with pytest.raises(ImageTooLargeError, match="over the limit of 50 pixels") as err:
        aio.read_image(tmp_path / "small.png", max_pixels=50)
    assert "ATELIER_MAX_PIXELS" in str(err.value) and "small.png" in str(err.value)
    with pytest.raises(InputError, match="Cannot read"):  # under the limit, decoding is tried and fails
        aio.read_image(tmp_path / "small.png")
    monkeypatch.setenv("ATELIER_MAX_PIXELS", "99")
    with pytest.raises(ImageTooLargeError, match="limit of 99 pixels"):
        aio.read_image(tmp_path / "small.png")
    assert Image.MAX_IMAGE_PIXELS is not None  # PIL's global setting was restored


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "truncated", "truncated png"])
def test_unreadable_files_raise_input_error(tmp_path, kind):
    path = tmp_path / "x.png"
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("hello, I am not a picture\n")
    elif kind == "truncated":
        Image.fromarray(gradient(64, 64)).save(tmp_path / "full.jpg", quality=90)
        path = tmp_path / "x.jpg"
        path.write_bytes((tmp_path / "full.jpg").read_bytes()[:400])
    elif kind == "truncated png":
        Image.fromarray(gradient(64, 64)).save(tmp_path / "full.png")
        path.write_bytes((tmp_path / "full.png").read_bytes()[:-300])
    with pytest.raises(InputError, match=path.name) as err:
        aio.read_image(path)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


def test_bad_sources_raise_input_error():
    with pytest.raises(InputError, match="empty"):
        aio.read_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(InputError, match="not an image"):
        aio.read_image(42)
    with pytest.raises(InputError):
        aio.read_image(torch.full((1, 3, 2, 2), float("nan")))
    with pytest.raises(InputError):
        aio.read_image(torch.rand(1, 4, 2, 2))


# ---------------------------------------------------------------------------------------------- sizes


def test_fit_size_and_resize():
    assert aio.fit_size(600, 800, 400) == (300, 400)
    assert aio.fit_size(800, 600, 400) == (400, 300)
    assert aio.fit_size(1000, 1, 10) == (10, 1)  # never 0
    assert aio.fit_size(100, 100, 512) == (512, 512)
    image = torch.rand(2, 3, 60, 80)
    small = aio.resize_long_side(image, 40)
    assert small.shape == (2, 3, 30, 40) and small.min() >= 0 and small.max() <= 1
    assert aio.resize(image, (90, 120)).shape == (2, 3, 90, 120)


def test_to_pil_rounds():
    image = torch.full((1, 3, 1, 1), 0.6 / 255)
    assert Image.Image.getpixel(aio.to_pil(image), (0, 0)) == (1, 1, 1)
    rgba = aio.to_pil(torch.zeros(3, 2, 2), torch.full((1, 1, 2, 2), 0.5))
    assert rgba.mode == "RGBA" and rgba.getpixel((0, 0))[3] == 128


# ---------------------------------------------------------------------------------------------- writing


def test_save_refuses_existing_unless_overwrite(tmp_path):
    out = tmp_path / "out.png"
    image = torch.rand(1, 3, 4, 4)
    assert aio.save_image(image, out) == out.resolve()
    with pytest.raises(OutputError, match="already exists"):
        aio.save_image(image, out)
    with pytest.raises(OutputError):
        aio.check_output_path(out)
    aio.save_image(torch.zeros(3, 4, 4), out, overwrite=True)
    assert np.asarray(Image.open(out)).max() == 0


def test_save_refuses_input_even_with_overwrite(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(gradient()).save(src)
    before = src.read_bytes()
    (tmp_path / "sub").mkdir()
    same = tmp_path / "sub" / ".." / "in.png"  # another spelling of the same file
    with pytest.raises(OutputError, match="input"):
        aio.save_image(torch.rand(1, 3, 4, 4), same, overwrite=True, inputs=[np.zeros(1), str(src)])
    assert src.read_bytes() == before


def test_save_unknown_extension(tmp_path):
    for name in ("out.gif", "out"):
        with pytest.raises(OutputError, match=r"\.png"):
            aio.save_image(torch.rand(1, 3, 4, 4), tmp_path / name)


def test_save_formats_alpha_and_parents(tmp_path):
    image, alpha = torch.rand(1, 3, 6, 5), torch.full((1, 1, 6, 5), 0.25)
    for name in ("a.PNG", "a.webp", "a.tif"):
        with Image.open(aio.save_image(image, tmp_path / "new" / "dir" / name, alpha=alpha)) as img:
            assert img.mode == "RGBA" and img.size == (5, 6)
    for name in ("a.jpg", "a.bmp"):
        with Image.open(aio.save_image(image, tmp_path / name, alpha=alpha, quality=80)) as img:
            assert img.mode == "RGB"
    aio.save_image(Image.new("L", (3, 3)), tmp_path / "pil.png")


def test_save_is_atomic(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"partial")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk on fire"):
        aio.save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temp file remains


def test_sidecar_and_write_json(tmp_path):
    assert aio.sidecar_path("dir/out.png") == Path("dir/out.png.json")
    target = aio.write_json(tmp_path / "out.png.json", {"b": 1, "a": Path("x/y.png"), "é": [1.5]})
    text = target.read_text(encoding="utf-8")
    assert json.loads(text) == {"b": 1, "a": "x/y.png", "é": [1.5]}
    assert text.index('"b"') < text.index('"a"') and '\n  "b": 1' in text
    with pytest.raises(OutputError):
        aio.write_json(target, {}, overwrite=False)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png.json"]
