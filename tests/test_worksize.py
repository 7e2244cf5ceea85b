"""--work-size: the method runs at a smaller long side and its result comes up to the output size with the
photo's fine detail (atelier.worksize, atelier.ops.upsampling), for images and videos.

Feed-forward networks are random (seeded) compact TransformerNets saved with ``save_model``, as in
tests/test_video.py; photos are smooth patterns made here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.engine.checkpoint import save_model
from atelier.errors import Interrupted, OptionError
from atelier.events import Progress
from atelier.methods.johnson.model import TransformerNet
from atelier.ops.upsampling import detail_upsample

cv2 = pytest.importorskip("cv2")


def pattern(h: int, w: int, shift: float = 0.0) -> np.ndarray:
    """A textured RGB frame (uint8) with detail finer than a quarter of its size, moved right by ``shift``."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x = x - shift
    img = np.stack([np.sin(x / 2.0) * np.cos(y / 3.0), np.cos((x + y) / 6.0), np.sin(x / 3.0 + y / 1.5)], -1)
    return ((img * 0.4 + 0.5) * 255).round().clip(0, 255).astype(np.uint8)


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet.from_arch("compact").eval()
    return save_model(tmp_path / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                      card={"style": "test"})


def test_detail_band_gives_a_grey_photo_back_exactly():
    """With the identity as the 'stylisation', up(I_low) + band = I for a grey photo (its luminance is the
    photo), so the band holds exactly the detail the work size lost; bicubic alone does not."""
    grey = pattern(64, 96)[..., :1].repeat(3, -1).astype(np.float32) / 255
    low = cv2.resize(grey, (24, 16), interpolation=cv2.INTER_AREA)
    out = detail_upsample(low, low, grey)
    assert out.shape == (64, 96, 3) and out.dtype == np.float32
    assert np.abs(out - grey).max() < 1e-5
    assert np.abs(cv2.resize(low, (96, 64), interpolation=cv2.INTER_CUBIC) - grey).mean() > 0.05


def test_detail_is_added_as_luminance_only():
    """The photo's colours must not leak into the painting's palette: out - up(p) is the same in R, G, B."""
    photo = pattern(48, 64).astype(np.float32) / 255
    photo_low = cv2.resize(photo, (16, 12), interpolation=cv2.INTER_AREA)
    p = np.full_like(photo_low, 0.5)
    diff = detail_upsample(p, photo_low, photo) - 0.5
    assert np.abs(diff).max() > 0.05
    assert np.allclose(diff[..., 0], diff[..., 1], atol=1e-6) and np.allclose(diff[..., 1], diff[..., 2], atol=1e-6)


def test_an_image_at_a_work_size_comes_out_at_the_full_size(model):
    calls = []
    content = pattern(60, 80)
    res = atelier.run(content, model=str(model), work_size=40,
                      callback=lambda e: calls.append(e))
    assert tuple(res.image.shape) == (1, 3, 60, 80)
    assert res.info["work_size"]["work"] == [40, 30] and res.info["work_size"]["output"] == [80, 60]
    full = atelier.run(content, model=str(model))
    assert "work_size" not in full.info
    assert not torch.equal(res.image, full.image)


def test_a_work_size_no_smaller_than_the_output_changes_nothing(model):
    content = pattern(30, 40)
    a = atelier.run(content, model=str(model), work_size=40)
    b = atelier.run(content, model=str(model))
    assert torch.equal(a.image, b.image) and "work_size" not in a.info


def test_the_method_sees_the_work_size(image_files):
    """gatys runs at 32 px (its snapshots say so) for a 64-px output."""
    sizes = []
    res = atelier.run(image_files["content"], image_files["style"], method="gatys", size=64, work_size=32,
                      iterations=2, coarse_iterations=2, min_size=32, device="cpu",
                      callback=lambda e: sizes.append(tuple(e.image.shape[-2:])) if getattr(e, "image", None) is not None else None)
    assert tuple(res.image.shape[-2:]) == (48, 64)
    assert sizes and max(max(s) for s in sizes) == 32


def test_work_size_is_refused_where_it_cannot_apply():
    with pytest.raises(OptionError, match="--work-size"):
        atelier.prepare("quilting", {}, n_styles=1, texture=True, work_size=64)
    with pytest.raises(OptionError, match="work.size"):
        atelier.prepare("gatys", {}, n_styles=1, work_size=-5)


def test_cli_stylize_with_a_work_size(tmp_path, model, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(pattern(60, 80)).save(photo)
    out = tmp_path / "out.png"
    assert main(["stylize", str(photo), "--model", str(model), "--work-size", "40", "-o", str(out), "-q"]) == 0
    assert Image.open(out).size == (80, 60)
    assert json.loads(atelier.sidecar_path(out).read_text())["work_size"]["work"] == [40, 30]


def _frames(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))]


def _clip(folder, n=6, h=60, w=80):
    folder.mkdir()
    for i in range(n):
        Image.fromarray(pattern(h, w, 2 * i)).save(folder / f"frame_{i:04d}.png")
    return folder


def test_video_at_a_work_size_resumes_exactly(tmp_path, model):
    """Frames at the output size; the temporal chain at the work size continues from the stored frames, so
    an interrupted and resumed run equals an uninterrupted one; another work size is another job."""
    src = _clip(tmp_path / "in")
    # compile off: --compile auto switches to the compiled network once enough time went into one size in
    # this process, and the compiled arithmetic differs in the last bits
    opts = {"model": str(model), "compile": "off", "precision": "fp32"}
    whole = atelier.stylize_video(src, tmp_path / "whole", work_size=40, **opts)
    assert whole.info["video"]["size"] == [80, 60]
    assert all(f.shape == (60, 80, 3) for f in _frames(whole.output))

    def stop_after_3(e):
        if isinstance(e, Progress) and e.iteration == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        atelier.stylize_video(src, tmp_path / "part", work_size=40, callback=stop_after_3, **opts)
    with pytest.raises(OptionError, match="other settings"):
        atelier.stylize_video(src, tmp_path / "part", work_size=32, resume=True, **opts)
    res = atelier.stylize_video(src, tmp_path / "part", work_size=40, resume=True, **opts)
    assert res.info["video"]["computed_now"] == 3
    for a, b in zip(_frames(whole.output), _frames(res.output), strict=True):
        assert np.array_equal(a, b)
    full = atelier.stylize_video(src, tmp_path / "full", work_size=0, **opts)
    assert not np.array_equal(_frames(full.output)[0], _frames(whole.output)[0])


def test_video_dry_run_estimates_and_writes_nothing(tmp_path, model, capsys):
    src = _clip(tmp_path / "in", n=8)
    out = tmp_path / "out.mp4"
    code = main(["video", str(src), str(out), "--model", str(model), "--work-size", "40", "--compile", "off",
                 "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0 and "Plan: 8 frames at 80x60, the method at 40x30." in text
    assert "frames/s" in text and "Nothing was written" in text
    assert not out.exists() and not (tmp_path / "out.mp4.frames").exists()
    from atelier.video.estimate import estimate_video

    est = estimate_video(src, model=str(model), compile="off", max_frames=5)
    assert est["frames"] == 5 and est["work"] is None and est["seconds"] > est["startup_seconds"] > 0
    assert est["frames_per_second"] == pytest.approx(5 / (est["seconds"] - est["startup_seconds"]))
