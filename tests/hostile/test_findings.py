"""Findings of issue 16's probe that are sequences rather than one input: a sidecar that fails after the
image, a killed video's temporary file, `atelier serve`'s refusals (bad limits, a busy port), what a failed
web job may tell a client."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
import torch
from PIL import Image

import atelier
from atelier import api
from atelier import io as aio

from . import inputs
from .frontends import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sidecar_failure_takes_the_new_image_back(tmp_path, monkeypatch):
    """The sidecar fails after the image was written (a full disk, a race): no image without its record."""
    result = api.StylizeResult(image=torch.rand(1, 3, 8, 8), alpha=None, info={})
    out = tmp_path / "out.png"

    def fail(path, data, **kw):
        raise atelier.errors.OutputError(f"Cannot write '{path}': No space left on device.")

    monkeypatch.setattr(aio, "write_json", fail)
    with pytest.raises(atelier.errors.OutputError):
        api.write_result(result, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_killed_videos_temporary_file_goes_with_the_next_run(tmp_path):
    """kill -9 during encoding leaves '.out.mp4.tmpXXXX'; the resumed run that finishes removes it."""
    clip = inputs.clip(tmp_path, frames=3)
    style = inputs.save(tmp_path, "style.png", inputs.photo(40, 40, seed=3))
    out = tmp_path / "out.mp4"
    options = dict(method="adain", size=32, device="cpu")

    def stop_after_first(event):
        if isinstance(event, atelier.events.Progress) and event.iteration == 1:
            raise KeyboardInterrupt

    with pytest.raises(atelier.errors.Interrupted):
        atelier.stylize_video(clip, out, style, callback=stop_after_first, **options)
    stale = tmp_path / ".out.mp4.tmp1a2b3c4d"
    stale.write_bytes(b"")  # what SIGKILL leaves (atomic_write cleans up after anything it can catch)
    result = atelier.stylize_video(clip, out, style, resume=True, **options)
    assert result.frames == 3 and out.stat().st_size > 0
    assert not stale.exists()
    assert not any(p.name.startswith(".out.mp4.tmp") for p in tmp_path.iterdir())


def test_a_video_whose_frames_cannot_fit_on_the_disk_is_refused_before_work(tmp_path, monkeypatch):
    import shutil

    from atelier.video import pipeline

    clip = inputs.clip(tmp_path, frames=3)
    style = inputs.save(tmp_path, "style.png", inputs.photo(40, 40, seed=3))
    real = shutil.disk_usage

    def tiny_disk(path):
        usage = real(path)
        return type(usage)(usage.total, usage.total - 5000, 5000)

    monkeypatch.setattr(pipeline.shutil, "disk_usage", tiny_disk)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(atelier.errors.OutputError, match=r"3 frames of 32x24 pixels need up to"):
        atelier.stylize_video(clip, tmp_path / "out.mp4", style, method="adain", size=32)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("flags,words", [
    (["--max-upload-mb", "nan"], "--max-upload-mb"),
    (["--max-upload-mb", "inf"], "--max-upload-mb"),
    (["--port", "70000"], "--port"),
    (["--port", "0"], "--port"),
    (["--workers", "0"], "--workers"),
])
def test_serve_refuses_bad_limits_before_making_the_jobs_folder(tmp_path, flags, words):
    jobs = tmp_path / "jobs"
    outcome = run_cli(["serve", "--jobs-dir", jobs, *flags])
    lines = [ln for ln in outcome.message.splitlines() if ln.startswith("atelier")]
    assert outcome.code == 2 and len(lines) == 1 and words in lines[0], outcome.message
    assert not jobs.exists()


def test_serve_on_a_busy_port_says_so_before_announcing_an_address(tmp_path):
    jobs = tmp_path / "jobs"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        outcome = run_cli(["serve", "--port", port, "--jobs-dir", jobs])
    assert outcome.code == 2, outcome.message
    assert "open http" not in outcome.message and "Traceback" not in outcome.message
    lines = [ln for ln in outcome.message.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0]
    assert not jobs.exists()


def test_a_failed_web_video_job_reveals_no_server_path(tmp_path, monkeypatch):
    """A video that fails while decoding (after the upload's check of its first frame): the library's
    sentence names the file by its path on the server; the client gets the job's file name."""
    pytest.importorskip("fastapi")
    from atelier.video import pipeline

    def broken(plan, *args):
        raise atelier.errors.InputError(f"'{plan.src_path}' could not be decoded (Invalid data).")

    monkeypatch.setattr(pipeline, "_frame_loop", broken)
    from fastapi.testclient import TestClient

    from atelier.web import create_app

    clip = inputs.clip(tmp_path, frames=2)
    buf = io.BytesIO()
    Image.fromarray(inputs.photo(40, 40)).save(buf, format="PNG")
    jobs = tmp_path / "server-jobs"
    with TestClient(create_app(jobs), base_url="http://127.0.0.1:7860") as client:
        info = client.get("/api/info").json()
        if not info["video"]:
            pytest.skip(info["video_reason"])
        r = client.post("/api/jobs", files=[("content", ("clip.mp4", clip.read_bytes(), "video/mp4")),
                                            ("style", ("s.png", buf.getvalue(), "image/png"))],
                        data={"kind": "video", "method": "adain", "options": json.dumps({"size": 32})})
        assert r.status_code == 201, r.text
        job = r.json()
        for _ in range(600):
            job = client.get(f"/api/jobs/{job['id']}").json()
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.05)
    assert job["state"] == "failed" and "could not be decoded" in job["error"], job
    assert str(tmp_path) not in job["error"] and "/" not in job["error"], job["error"]
