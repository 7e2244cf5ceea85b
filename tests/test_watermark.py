"""The invisible watermark: invisible enough (PSNR), found after JPEG q75 + a 0.5x resize + a crop, not found
in unmarked images; written by --watermark and found by 'atelier provenance --watermark'."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from atelier import watermark as wm
from atelier.cli import main


def painting(h=192, w=256, seed=0) -> np.ndarray:
    """A textured image (smooth colour fields plus strokes of noise), as stylised results are."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / 40.0
    base = np.stack([np.sin(x + rng.uniform(0, 6)), np.cos(y * 1.3), np.sin(x + y)], -1) * 60 + 128
    noise = np.asarray(Image.fromarray(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)).resize((w, h)))
    return np.clip(base + 0.4 * (noise.astype(float) - 128), 0, 255).astype(np.uint8)


def attacked(x: np.ndarray) -> np.ndarray:
    """0.5x resize, then a crop at an offset off the block grid, then JPEG quality 75."""
    small = Image.fromarray(x).resize((x.shape[1] // 2, x.shape[0] // 2), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.crop((5, 3, 5 + 90, 3 + 76)).save(buf, format="JPEG", quality=75)
    return np.asarray(Image.open(buf).convert("RGB"))


def test_the_mark_is_faint_and_survives_jpeg_resize_and_crop():
    img = painting()
    marked = wm.embed(img)
    psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - img) ** 2))
    assert psnr > 35
    assert wm.detect(marked)["agreement"] == 1.0
    found = wm.detect(attacked(marked))
    assert found["found"] and found["level"] == 0  # the resize moved it one DWT level down
    assert not wm.detect(attacked(img))["found"] and not wm.detect(img)["found"]


def test_stylize_watermark_is_found_by_the_provenance_command(tmp_path, image_files, capsys):
    out = tmp_path / "marked.png"
    assert main(["stylize", str(image_files["content"]), str(image_files["style"]), "-o", str(out), "--size", "128",
                 "--iterations", "2", "-q", "--watermark", "--no-metadata"]) == 0
    capsys.readouterr()
    assert main(["provenance", "--watermark", str(out)]) == 0  # no metadata, but the mark is in the pixels
    assert "Invisible watermark of atelier: found (64 of 64 bits match" in capsys.readouterr().out
    assert main(["provenance", "--watermark", str(image_files["content"])]) == 1
    assert "not found" in capsys.readouterr().out
