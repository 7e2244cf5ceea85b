"""Styles that change along a video (--style-at): the schedule, the two ways of mixing (feature statistics or
Gram targets through the method's style weights; output blending of johnson models), and the refusals.

Clips are folders of small frames made here; johnson networks are random (seeded) compact TransformerNets.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

import atelier
from atelier.cli import main
from atelier.engine.checkpoint import save_model
from atelier.errors import OptionError
from atelier.methods.johnson.model import TransformerNet
from atelier.video.keyframes import StyleSchedule, parse_style_at

pytest.importorskip("cv2")


def _clip(folder, n=10, h=40, w=56):
    folder.mkdir()
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        img = np.stack([np.sin((x - i) / 4), np.cos(y / 5), np.sin((x - i + y) / 6)], -1) * 0.4 + 0.5
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"frame_{i:04d}.png")
    return folder


def _frames(folder):
    return [np.asarray(Image.open(p)).astype(np.float32) / 255 for p in sorted(folder.glob("frame_*.png"))]


def _model(path, seed):
    torch.manual_seed(seed)
    net = TransformerNet.from_arch("compact").eval()
    return save_model(path, net.state_dict(), method="johnson", arch=net.arch, card={"style": f"test{seed}"})


def test_schedule_holds_then_eases_between_keyframes():
    s = StyleSchedule(parse_style_at(["2=b.jpg", "1=a.jpg", "0:04=c.jpg"]))  # sorted by time; MM:SS read
    assert [k.time for k in s.keyframes] == [1.0, 2.0, 4.0]
    assert s.at(0.0) == [(0, 1.0)] and s.at(1.0) == [(0, 1.0)] and s.at(9.0) == [(2, 1.0)]
    (i, wa), (j, wb) = s.at(1.5)
    assert (i, j) == (0, 1) and wa == pytest.approx(0.5) and wb == pytest.approx(0.5)
    ws = [dict(s.at(t)).get(1, 0.0) for t in np.linspace(1.0, 2.0, 11)]
    assert all(b > a for a, b in itertools.pairwise(ws))  # rises monotonically
    assert ws[1] < 0.1 and ws[-2] > 0.9  # eases in and out (smoothstep, not linear)


@pytest.mark.parametrize("items, words", [(["5"], "TIME=STYLE"), (["1=a.jpg", "1=b.jpg"], "Two style keyframes"),
                                          (["x=a.jpg"], "A time must be"), ([], "at least one")])
def test_malformed_keyframes_are_one_sentence(items, words):
    with pytest.raises(OptionError, match=words):
        parse_style_at(items)


def test_a_painting_transition_moves_the_colours_monotonically(tmp_path):
    """adain mixes the two paintings' feature statistics by the schedule's weights: from a red painting to a
    blue one, the frames' red-minus-blue falls frame by frame across the transition."""
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.1, 0.1, (48, 48, 1))
    Image.fromarray((np.clip(np.array([0.9, 0.2, 0.1]) + noise, 0, 1) * 255).astype(np.uint8)).save(red)
    Image.fromarray((np.clip(np.array([0.1, 0.2, 0.9]) + noise, 0, 1) * 255).astype(np.uint8)).save(blue)
    src = _clip(tmp_path / "in")
    res = atelier.stylize_video(src, tmp_path / "out", method="adain", size=56, fps=10, precision="fp32",
                                style_at=[(0.2, red), (0.7, blue)])
    rb = [float((f[..., 0] - f[..., 2]).mean()) for f in _frames(res.output)]
    assert rb[0] > 0.2 and rb[-1] < -0.2
    assert all(b < a for a, b in itertools.pairwise(rb[2:9]))  # frames 2..8 span the transition
    assert res.info["inputs"]["style_at"][0][0] == 0.2


def test_johnson_models_are_blended_by_the_weights(tmp_path):
    """Between two models the output is their results blended by the schedule (temporal weight 0: no blend
    with the previous frame)."""
    a, b = _model(tmp_path / "a.safetensors", 1), _model(tmp_path / "b.safetensors", 2)
    src = _clip(tmp_path / "in", n=3)
    opts = {"fps": 1, "temporal_weight": 0, "precision": "fp32", "compile": "off"}
    mixed = _frames(atelier.stylize_video(src, tmp_path / "mix", style_at=[(0, a), (2, b)], **opts).output)
    only_a = _frames(atelier.stylize_video(src, tmp_path / "a", model=str(a), **opts).output)
    only_b = _frames(atelier.stylize_video(src, tmp_path / "b", model=str(b), **opts).output)
    assert np.abs(mixed[0] - only_a[0]).max() <= 1 / 255 and np.abs(mixed[2] - only_b[2]).max() <= 1 / 255
    assert np.abs(mixed[1] - (only_a[1] + only_b[1]) / 2).max() <= 1.5 / 255  # t = 1: halfway


def test_keyframes_refuse_what_cannot_work(tmp_path, image_files):
    src = _clip(tmp_path / "in", n=2)
    a = _model(tmp_path / "a.safetensors", 1)
    with pytest.raises(OptionError, match="leave out --style"):
        atelier.stylize_video(src, tmp_path / "o1", image_files["style"], method="adain",
                              style_at=[(0, image_files["style"])])
    with pytest.raises(OptionError, match="--style-weights"):
        atelier.stylize_video(src, tmp_path / "o2", method="adain", style_weights=[1, 1],
                              style_at=[(0, image_files["style"]), (1, image_files["style2"])])
    with pytest.raises(OptionError, match="one method"):
        atelier.stylize_video(src, tmp_path / "o3", style_at=[(0, a), (1, "adain")])
    with pytest.raises(OptionError, match=r"cannot blend paintings along a video \(--style-at\)") as err:
        atelier.stylize_video(src, tmp_path / "o4", method="gatys", style_loss="mrf",
                              style_at=[(0, image_files["style"]), (1, image_files["style2"])])
    assert "--mask" not in str(err.value)  # --style-at takes no masks: the message must not send users there
    assert not any((tmp_path / o).exists() for o in ("o1", "o3", "o4"))


def test_cli_keyframed_models_choose_johnson(tmp_path, capsys):
    a, b = _model(tmp_path / "a.safetensors", 1), _model(tmp_path / "b.safetensors", 2)
    src = _clip(tmp_path / "in", n=4)
    out = tmp_path / "out.mp4"
    code = main(["video", str(src), str(out), "--style-at", f"0={a}", "--style-at", f"0.1={b}", "-q"])
    assert code == 0 and out.is_file()
    assert "4 frames" in capsys.readouterr().out
