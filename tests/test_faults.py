"""Faults: ``kill -9`` during training, video and a long stylisation, and a full disk.

After a kill -9: nothing partial or corrupt where an output should be (temporary files are hidden
``.NAME.tmpXXXX`` files beside it, never the output's name), every file that is there loads, and a resumed
run redoes at most one checkpoint interval and never recomputes a finished video frame. A full disk (a write
that fails with ENOSPC) gives one sentence, exit 2, and leaves the previous output as it was.
``benchmarks/faults.py`` measures the same at larger sizes (and on a real full tmpfs where it may mount one).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import atelier
from atelier.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from faults import finish, kill_after, start  # the CLI in a subprocess, reporting "P <iteration>" lines


def visible(folder: Path) -> list[str]:
    """The files a user sees (temporary files are hidden: '.NAME.tmpXXXX')."""
    stray = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert all(".tmp" in n for n in stray), stray
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "photos"
    data.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"p{i}.png")
    style = tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(style)
    return style, data


TRAIN = ["--size", "32", "--style-size", "32", "--batch-size", "2", "--precision", "fp32", "-q"]


def test_kill_9_during_training_loses_at_most_one_checkpoint_interval(tmp_path, photos):
    from atelier.engine import checkpoint as ckpt

    style, data = photos
    out = tmp_path / "run" / "m.safetensors"
    every = 3
    argv = ["train", "johnson", "--style", style, "--data", data, "-o", out, *TRAIN, "--checkpoint-every", every,
            "--preview-every", 1]
    last = kill_after(start(*argv, "--steps", 100000), 2 * every + 1)
    assert not out.exists()  # the model is written only when training ends
    assert visible(out.parent) == ["m.ckpt.safetensors", "m.preview.png"]
    saved = ckpt.read(out.with_name("m.ckpt.safetensors"))[1]["step"]  # loads: not corrupt
    assert last - every <= saved <= last
    preview = atelier.provenance.read(out.with_name("m.preview.png"))  # a whole PNG, with its record
    assert preview["kind"] == "training preview" and saved <= preview["step"] <= last
    code, steps, err = finish([*argv, "--resume", "--steps", last + 1])
    assert code == 0, err
    assert steps == list(range(saved + 1, last + 2))  # redone: last - saved <= one interval
    assert ckpt.load_model(out)[1]["card"]["steps"] == last + 1


def test_kill_9_during_a_video_keeps_finished_frames_and_resume_never_recomputes_them(tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    import torch

    from atelier.engine.checkpoint import save_model
    from atelier.methods.johnson.model import TransformerNet

    torch.manual_seed(0)
    net = TransformerNet.from_arch("compact").eval()
    model = save_model(tmp_path / "tiny.safetensors", net.state_dict(), method="johnson", arch=net.arch,
                       card={"style": "test"})
    clip = tmp_path / "clip"
    clip.mkdir()
    rng = np.random.default_rng(1)
    n = 40  # enough that the kill lands long before the end
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(clip / f"frame_{i:04d}.png")
    out = tmp_path / "out" / "v.mp4"
    argv = ["video", clip, out, "--model", model, "--temporal-weight", "0"]
    last = kill_after(start(*argv), 5)
    assert not out.exists()  # the MP4 is renamed into place only when complete
    assert visible(out.parent) == ["v.mp4.frames"]
    work = out.with_name("v.mp4.frames")
    # an MP4 job keeps its finished frames as raw arrays (the MP4 carries the provenance record)
    finished = sorted(p.name for p in work.glob("frame_*.npy"))
    for name in finished:  # every finished frame is whole (written atomically)
        assert np.load(work / name).shape == (48, 64, 3)
    done = len(finished)
    assert finished == [f"frame_{k:06d}.npy" for k in range(done)]
    assert 1 <= done <= last and last - done <= 3  # at most the frames queued for the writer (2) + one
    code, frames, err = finish([*argv, "--resume"])
    assert code == 0, err
    assert frames == list(range(done + 1, n + 1))  # finished frames are never computed again
    sidecar = json.loads(atelier.sidecar_path(out).read_text())
    assert sidecar["video"]["resumed_from"] == done and sidecar["video"]["computed_now"] == n - done
    assert atelier.provenance.read(out)["kind"] == "video"


def test_kill_9_during_a_long_stylisation_leaves_whole_snapshots(tmp_path, image_files):
    out = tmp_path / "out.png"
    every = 3
    argv = ["stylize", image_files["content"], image_files["style"], "-o", out, "--size", "48", "--iterations",
            "100000", "--tolerance", "0", "--save-every", every]
    last = kill_after(start(*argv), 2 * every + 1)
    assert not out.exists() and not atelier.sidecar_path(out).exists()
    snaps = [n for n in visible(tmp_path) if n.startswith("out.iter")]
    iterations = sorted(atelier.provenance.read(tmp_path / n)["iteration"] for n in snaps)
    assert iterations == list(range(every, iterations[-1] + 1, every))
    assert last - iterations[-1] <= every  # a continuation (--init SNAPSHOT) loses at most one interval
    for n in snaps:
        assert Image.open(tmp_path / n).size == (48, 36)


def _disk_full(monkeypatch, *, after_bytes: int = 100) -> None:
    """Every image or byte write fails with ENOSPC after writing ``after_bytes`` (a half-written file)."""
    import PIL.Image

    def full(path):
        with open(path, "wb") as f:
            f.write(b"\0" * after_bytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(PIL.Image.Image, "save", lambda self, fp, *a, **k: full(fp))
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: full(self))


def test_a_full_disk_is_one_sentence_and_keeps_the_previous_output(tmp_path, image_files, monkeypatch, capsys):
    out = tmp_path / "out.png"
    argv = [str(a) for a in ("stylize", image_files["content"], image_files["style"], "-o", out, "--size", "32",
                             "--iterations", "2", "-q")]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    capsys.readouterr()
    _disk_full(monkeypatch)
    assert main([*argv, "--overwrite", "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [(f"atelier: error: Cannot write '{out}': No space left on device (the earlier file there is "
                   "unchanged).")]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # no temp file left


def test_a_full_disk_during_training_is_one_sentence(tmp_path, photos, monkeypatch, capsys):
    style, data = photos
    out = tmp_path / "m.safetensors"
    _disk_full(monkeypatch)
    code = main([str(a) for a in ("train", "johnson", "--style", style, "--data", data, "-o", out, *TRAIN,
                                  "--steps", 4, "--checkpoint-every", 2)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [(f"atelier: error: Cannot write '{out.with_name('m.ckpt.safetensors')}': No space "
                                 "left on device.")]
    assert list(tmp_path.glob("m.*")) == [] and list(tmp_path.glob(".m.*")) == []
