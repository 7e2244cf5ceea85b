"""The web app's HTTP API through FastAPI's test client: job lifecycle, events, cancel, restart, limits,
bad files, file names, token, Host and Origin checks, the local docs page and `atelier serve`'s refusals.

Jobs run the real worker (a thread) on tiny images with a random-weight VGG (``weights: random``).
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from atelier.web import create_app
from atelier.web.jobs import RESTART_REASON

BASE = "http://127.0.0.1:7860"
TINY = {"size": 32, "iterations": 2, "coarse_iterations": 0, "min_size": 32, "weights": "random"}


def png(w=40, h=32, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def files(content=None, style=None, content_name="photo.png"):
    out = [("content", (content_name, content if content is not None else png(), "image/png"))]
    if style is not False:
        out.append(("style", ("painting.png", style if style is not None else png(seed=1), "image/png")))
    return out


def create(client, options=TINY, method="gatys", **kw):
    return client.post("/api/jobs", files=files(**kw), data={"method": method, "options": json.dumps(options)})


def read_events(client, job_id, *, until="end", on_event=None) -> list[tuple[str, dict]]:
    """The job's server-sent events up to ``until`` (the stream closes after "end")."""
    events, kind = [], None
    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if on_event is not None:
                    on_event(kind, events[-1][1])
                if kind == until:
                    break
    return events


@pytest.fixture
def jobs_dir(tmp_path):
    return tmp_path / "jobs"


@pytest.fixture
def client(jobs_dir):
    with TestClient(create_app(jobs_dir), base_url=BASE) as c:
        yield c


def test_methods_options_come_from_the_configs(client):
    import dataclasses

    import atelier

    methods = {m["name"]: m for m in client.get("/api/methods").json()}
    assert set(methods) == set(atelier.list_methods())
    gatys = {o["name"]: o for o in methods["gatys"]["options"]}
    fields = {f.name: f for f in dataclasses.fields(atelier.method_spec("gatys").config_class)}
    # and the run options --work-size (gatys has a size), --protect/--protect-strength (capability protect)
    # and --semantic (capabilities style_masks and masks)
    assert set(gatys) == set(fields) | {"work_size", "protect", "protect_strength", "semantic"}
    assert gatys["work_size"]["default"] == 0 and gatys["work_size"]["zero"] == "off"
    assert gatys["protect"]["choices"] == ["none", "faces"] and gatys["protect_strength"]["maximum"] == 1
    assert "protect" not in {o["name"] for o in methods["quilting"]["options"]}  # refused, so not offered
    assert gatys["size"]["default"] == 512 and gatys["size"]["type"] == "integer"
    assert gatys["size"]["help"] == fields["size"].metadata["help"]
    assert gatys["preserve_color"]["choices"] == ["none", "luminance", "histogram"]
    assert gatys["init"]["choices"] == ["content", "random"]  # no server paths from a web form
    assert gatys["style_layers"]["list"] is True
    assert gatys["weights"]["form"] is False  # not offered by the CLI, so not by the form
    assert {o["name"] for o in gatys.values() if o["basic"]} == {
        f.name for f in fields.values() if f.metadata.get("basic")}
    assert gatys["size"]["minimum"] == 16 and gatys["size"]["range"] == "at least 16"
    assert methods["gatys"]["capabilities"]["needs_style"] is True
    assert methods["johnson"]["capabilities"]["needs_style"] is False
    johnson = {o["name"]: o for o in methods["johnson"]["options"]}
    assert johnson["model"]["choices"] == [m.name for m in atelier.list_models()
                                           if m.method == "johnson" and not m.error]
    assert johnson["size"]["range"] == "0 (the content's size) or at least 8"
    for m in methods.values():  # no option of any method lets a form name a file of the server
        opts = {o["name"]: o for o in m["options"]}
        for f in dataclasses.fields(atelier.method_spec(m["name"]).config_class):
            if f.metadata.get("or_file"):
                assert opts[f.name]["choices"] == list(f.metadata["or_file"]), (m["name"], f.name)
            if f.name == "model":
                assert opts[f.name]["choices"] == [
                    x.name for x in atelier.list_models()
                    if x.method in atelier.method_spec(m["name"]).model_kinds and not x.error]


def test_video_options_come_from_the_video_config(client):
    import dataclasses

    from atelier.video.config import VideoConfig

    info = client.get("/api/info").json()
    video = {o["name"]: o for o in info["video_options"]}
    assert set(video) == {f.name for f in dataclasses.fields(VideoConfig) if f.metadata.get("web")} | {"style_at"}
    cap = info["limits"]["max_frames"]
    assert video["max_frames"]["default"] == cap == video["max_frames"]["maximum"]
    assert video["max_frames"]["range"] == f"between 1 and {cap}"
    assert video["temporal_weight"]["default"] == 1.0 and video["temporal_weight"]["range"] == "0 or more"


@pytest.mark.parametrize("raw,expected", [
    ({}, {"max_frames": 300}),
    ({"max_frames": "20", "temporal_weight": "0"}, {"max_frames": 20, "temporal_weight": 0.0}),
])
def test_video_options_are_typed_and_capped(raw, expected):
    from atelier.web.schema import resolve_video_options

    assert resolve_video_options(raw, 300) == expected


@pytest.mark.parametrize("raw,expected", [
    ({"max_frames": 301}, "max_frames must be between 1 and 300 on this server, not 301."),
    ({"max_frames": 0}, "--max-frames must be at least 1, not 0."),
    ({"temporal_weight": -1}, "--temporal-weight must be 0 or more, not -1."),
    ({"crf": 10}, "Unknown option(s) crf for a video job; valid: temporal_weight, max_frames, style_at."),
    ({"style_at": "0=1, 2=3"}, "style_at names painting 3, but 2 painting(s) were uploaded."),
    ({"style_at": "0=1, 2"}, "style_at takes TIME=STYLE pairs"),
    ([1], "Options must be a JSON object"),
])
def test_bad_video_options(raw, expected):
    from atelier.web.schema import OptionsError, resolve_video_options

    with pytest.raises(OptionsError) as err:
        resolve_video_options(raw, 300, n_styles=2)
    assert str(err.value).startswith(expected)


def test_job_lifecycle_events_result_and_sidecar(client, jobs_dir):
    r = create(client)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] == "queued" and job["method"] == "gatys" and job["options"] == TINY
    assert job["inputs"]["content_name"] == "photo.png"
    assert job["inputs"]["style_names"] == ["painting.png"]

    events = read_events(client, job["id"])
    kinds = [k for k, _ in events]
    assert kinds[0] == "state" and kinds[-1] == "end"
    assert "stage" in kinds
    progress = [d for k, d in events if k == "progress"]
    assert [p["iteration"] for p in progress] == [1, 2]
    assert progress[-1]["total_iterations"] == 2 and progress[-1]["fraction"] == 1.0
    assert {"content", "style", "tv", "total"} <= set(progress[-1]["losses"])
    assert "eta" in progress[-1] and "elapsed" in progress[-1]
    assert progress[-1]["preview"].startswith("data:image/jpeg;base64,")  # the last image is always sent
    final = events[-1][1]
    assert final["state"] == "done" and final["error"] is None
    assert final["info"]["output_size"] == [32, 26]

    got = client.get(f"/api/jobs/{job['id']}").json()
    assert got["state"] == "done" and got["result"] == f"/api/jobs/{job['id']}/result"
    res = client.get(got["result"])
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(res.content)).size == (32, 26)
    dl = client.get(got["result"], params={"download": "true"})
    assert dl.headers["content-disposition"].startswith("attachment")
    sidecar = client.get(got["sidecar"]).json()
    assert sidecar["config"]["size"] == 32 and sidecar["method"] == "gatys" and sidecar["seed"] == 0
    assert client.get(got["inputs"]["content"]).content == png()
    assert client.get(f"/api/jobs/{job['id']}/preview").headers["content-type"] == "image/jpeg"
    assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]] == [job["id"]]

    # Finished jobs persist across a restart, with their results.
    with TestClient(create_app(jobs_dir), base_url=BASE) as again:
        listed = again.get("/api/jobs").json()["jobs"]
        assert [(j["id"], j["state"]) for j in listed] == [(job["id"], "done")]
        assert again.get(got["result"]).content == res.content
        events = read_events(again, job["id"])
        assert [k for k, _ in events] == ["state", "end"]


def test_cancel_a_running_job_then_the_worker_goes_on(client):
    slow = create(client, {**TINY, "iterations": 10_000, "tolerance": 0}).json()
    queued = create(client).json()  # behind the slow one (one worker)
    cancelled = client.post(f"/api/jobs/{queued['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"

    def cancel_at_first_progress(kind, data):
        if kind == "progress" and data["iteration"] == 1:
            assert client.post(f"/api/jobs/{slow['id']}/cancel").status_code == 200

    events = read_events(client, slow["id"], on_event=cancel_at_first_progress)
    final = events[-1][1]
    assert final["state"] == "cancelled" and final["error"] is None and final["result"] is None
    assert max(d["iteration"] for k, d in events if k == "progress") < 10_000
    assert client.post(f"/api/jobs/{slow['id']}/cancel").status_code == 409  # already over

    after = create(client).json()
    assert read_events(client, after["id"])[-1][1]["state"] == "done"
    assert client.get(f"/api/jobs/{queued['id']}").json()["state"] == "cancelled"


def test_jobs_interrupted_by_a_restart_are_marked_failed(jobs_dir):
    first = TestClient(create_app(jobs_dir), base_url=BASE)  # no lifespan: no worker takes the job
    job = create(first).json()
    assert first.get(f"/api/jobs/{job['id']}").json()["state"] == "queued"
    meta = jobs_dir / job["id"] / "job.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "state": "running"}))  # as if a worker had it when the server died
    with TestClient(create_app(jobs_dir), base_url=BASE) as c:
        got = c.get(f"/api/jobs/{job['id']}").json()
    assert got["state"] == "failed" and got["error"] == RESTART_REASON
    assert json.loads(meta.read_text())["state"] == "failed"


def test_stopping_the_server_fails_its_running_and_queued_jobs(jobs_dir):
    from atelier.web.jobs import STOP_REASON

    with TestClient(create_app(jobs_dir), base_url=BASE) as c:
        running = create(c, {**TINY, "iterations": 10_000, "tolerance": 0}).json()
        queued = create(c).json()
        read_events(c, running["id"], until="progress")
    # The app's shutdown stopped the worker at the running job's next event.
    stored = {j: json.loads((jobs_dir / j / "job.json").read_text()) for j in (running["id"], queued["id"])}
    assert (stored[running["id"]]["state"], stored[running["id"]]["error"]) == ("failed", STOP_REASON)
    assert (stored[queued["id"]]["state"], stored[queued["id"]]["error"]) == ("failed", RESTART_REASON)


def test_delete_a_finished_job(client, jobs_dir):
    job = create(client).json()
    read_events(client, job["id"])
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not (jobs_dir / job["id"]).exists()
    idle = TestClient(create_app(jobs_dir), base_url=BASE)  # no lifespan: the job stays queued
    queued = create(idle).json()
    r = idle.delete(f"/api/jobs/{queued['id']}")
    assert r.status_code == 409 and "cancel it first" in r.json()["detail"]


def test_request_size_limit_answers_413(jobs_dir):
    with TestClient(create_app(jobs_dir, max_upload_bytes=20_000), base_url=BASE) as c:
        big = png(120, 120)  # ~43 kB of noise
        r = c.post("/api/jobs", files=files(content=big), data={"options": json.dumps(TINY)})
        assert r.status_code == 413
        assert r.json()["detail"] == "The upload is too large: this server accepts at most 20 kB per request."
        # A body sent without Content-Length (chunked) is counted as it arrives.
        head = (b'--zz\r\nContent-Disposition: form-data; name="content"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n")
        chunks = [head, *[png(60, 60, seed=i) for i in range(4)]]
        r = c.post("/api/jobs", content=iter(chunks), headers={"content-type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 413
        assert r.json()["detail"].startswith("The upload is too large")
    assert [p for p in jobs_dir.iterdir()] == []  # nothing stored


def test_pixel_and_size_limits(jobs_dir):
    with TestClient(create_app(jobs_dir, max_pixels=1000, max_size=64), base_url=BASE) as c:
        r = create(c, content=png(40, 32))  # 1280 pixels
        assert r.status_code == 413
        assert "more than 0.001 million pixels" in r.json()["detail"] and "photo.png" in r.json()["detail"]
        r = create(c, {**TINY, "size": 65}, content=png(30, 30), style=png(30, 30))
        assert r.status_code == 422
        assert r.json()["detail"] == "The size must be at most 64 pixels on this server, not 65."
    assert list(jobs_dir.iterdir()) == []  # the rejected job's directory was removed


@pytest.mark.parametrize("content,ctype,expected", [
    (b"hello, not an image", "image/png", "is not an image atelier can read"),
    (b"", "image/png", "is empty"),
    (png(), "text/plain", "is text/plain, not an image"),
    (b"GIF89a" + b"\0" * 10, "image/gif", "is not an image atelier can read"),
])
def test_bad_files_answer_422(client, content, ctype, expected):
    r = client.post("/api/jobs", files=[("content", ("x.png", content, ctype)),
                                        ("style", ("s.png", png(), "image/png"))],
                    data={"options": json.dumps(TINY)})
    assert r.status_code == 422
    assert expected in r.json()["detail"]


def test_gif_is_refused_by_type(client):
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 10, 10)).save(buf, format="GIF")
    r = client.post("/api/jobs", files=[("content", ("a.gif", buf.getvalue(), "image/gif")),
                                        ("style", ("s.png", png(), "image/png"))],
                    data={"options": json.dumps(TINY)})
    assert r.status_code == 422
    assert r.json()["detail"] == ("The content file 'a.gif' is a GIF image; this server accepts JPEG, PNG, WebP, "
                                  "TIFF or BMP.")


@pytest.mark.parametrize("method,options,expected", [
    ("gatys", {"sizes": 3}, "Unknown option(s) sizes for the gatys method"),
    ("gatys", {"size": "big"}, "Option size must be a whole number, not 'big'."),
    ("gatys", {"preserve_color": "sepia"}, "Option preserve_color must be one of none, luminance, histogram"),
    ("gatys", {"init": "/etc/passwd"}, "Option init must be one of content, random"),
    ("gatys", {"size": -1}, "--size must be at least 16, not -1."),
    ("cubism", {}, "Unknown method 'cubism'"),
    ("johnson", {"model": "/etc/passwd"}, "Unknown model '/etc/passwd'"),
    ("gatys", {"protect": "faces", "protect_strength": 2}, "--protect-strength must be between 0 and 1, not 2."),
    ("gatys", {"protect": "eyes"}, "Option protect must be one of none, faces, not 'eyes'."),
])
def test_bad_options_answer_422(client, method, options, expected):
    r = client.post("/api/jobs", files=files(style=None if method == "gatys" else False),
                    data={"method": method, "options": json.dumps(options)})
    assert r.status_code == 422
    assert expected in r.json()["detail"]


def test_missing_inputs_and_unavailable_video_answer_422(client):
    # The run's checks are atelier.prepare's sentences.
    r = client.post("/api/jobs", files=files(style=False), data={"options": json.dumps(TINY)})
    assert r.status_code == 422 and r.json()["detail"] == "The gatys method needs at least one style image."
    johnson = {m["name"]: m for m in client.get("/api/methods").json()}["johnson"]
    models = {o["name"]: o for o in johnson["options"]}["model"]["choices"]
    if models:
        r = client.post("/api/jobs", files=files(),
                        data={"method": "johnson", "options": json.dumps({"model": models[0]})})
        assert r.status_code == 422 and "takes no style image" in r.json()["detail"]
    r = client.post("/api/jobs", files=files(), data={"method": "johnson"})  # neither model nor no-style
    assert r.status_code == 422
    r = client.post("/api/jobs", data={"options": "{not json"}, files=files())
    assert r.status_code == 422 and "JSON object" in r.json()["detail"]
    r = client.post("/api/jobs", data={"options": "{}", "style_bundled": "starry-night"})
    assert r.status_code == 422 and "Give a content image" in r.json()["detail"]
    info = client.get("/api/info").json()
    if not info["video"]:
        r = client.post("/api/jobs", files=files(), data={"kind": "video"})
        assert r.status_code == 422 and r.json()["detail"] == info["video_reason"]
        assert info["video_reason"].startswith("Video jobs need PyAV and OpenCV")


def test_bundled_images_and_user_file_names_never_become_paths(client, jobs_dir):
    r = client.post("/api/jobs", files=files(content_name="../../evil.png", style=False),
                    data={"style_bundled": "starry-night", "options": json.dumps(TINY)})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["inputs"]["content_name"] == "evil.png"  # display only
    assert job["inputs"]["style_names"] == ["The Starry Night"]
    stored = sorted(p.name for p in (jobs_dir / job["id"]).iterdir())
    assert "content.png" in stored and "style-0.jpg" in stored
    assert not (jobs_dir.parent / "evil.png").exists() and not (jobs_dir / "evil.png").exists()
    for bad in ["..%2F..%2Fetc%2Fpasswd", "..", "0" * 31 + "g"]:
        assert client.get(f"/api/jobs/{bad}").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/inputs/..%2Fjob.json").status_code == 404
    assert client.get("/static/..%2F..%2Fapp.py").status_code == 404
    read_events(client, job["id"])


def test_token_is_required_on_every_request(jobs_dir):
    token = "s3cret-token-123"
    with TestClient(create_app(jobs_dir, token=token), base_url="http://192.0.2.1:7860") as c:
        for path in ["/", "/api/jobs", "/api/methods", "/openapi.json", "/static/app.js"]:
            r = c.get(path)
            assert r.status_code == 401, path
            assert "needs its token" in r.json()["detail"]
        assert c.get("/api/jobs", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        assert c.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        page = c.get(f"/?token={token}")
        assert page.status_code == 200 and "atelier_token=" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]
        # The cookie set by the page's address authorises the page's later requests.
        assert c.get("/api/jobs").status_code == 200


def test_loopback_server_checks_host_and_origin(jobs_dir):
    app = create_app(jobs_dir, allowed_hosts={"127.0.0.1", "localhost", "::1"})
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/api/jobs").status_code == 200
        r = c.get("/api/jobs", headers={"host": "attacker.example:7860"})
        assert r.status_code == 421  # DNS rebinding
        r = c.post("/api/jobs", files=files(), data={"options": json.dumps(TINY)},
                   headers={"origin": "http://attacker.example"})
        assert r.status_code == 403 and r.json()["detail"] == "Requests from other web sites are refused."
        r = c.post("/api/jobs", files=files(), data={"options": json.dumps(TINY)}, headers={"origin": BASE})
        assert r.status_code == 201
        read_events(c, r.json()["id"])


def test_page_and_docs_load_nothing_from_elsewhere(client):
    import re

    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    for text in [page.text, docs.text, client.get("/static/app.js").text, client.get("/static/style.css").text]:
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
        assert "@import" not in text and "url(http" not in text
    assert client.get("/redoc").status_code == 404
    spec = client.get("/openapi.json").json()
    for path in ["/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/result",
                 "/api/jobs/{job_id}/sidecar", "/api/jobs/{job_id}/cancel", "/api/methods"]:
        assert path in spec["paths"], path


def test_serve_refuses_a_public_address_without_token(capsys):
    from atelier.cli import main

    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "atelier: error: Binding 0.0.0.0 lets other machines reach the server; give --token" in err
    assert main(["serve", "--host", "0.0.0.0", "--token", "short"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err


def test_serve_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from atelier.cli import main\n"
            "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert "--jobs-dir" in out.stdout and out.stdout.strip().endswith("False")


def test_video_job_runs_through_the_video_api(client, tmp_path):
    """A 3-frame clip through atelier.stylize_video: progress per frame, an MP4 result and its sidecar."""
    info = client.get("/api/info").json()
    if not info["video"]:
        pytest.skip(f"video jobs unavailable here: {info['video_reason']}")
    import av

    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            rgb = np.full((32, 32, 3), 40 * i, dtype=np.uint8)
            rgb[8:24, 4 + 4 * i:20 + 4 * i] = 220
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    r = client.post("/api/jobs", files=[("content", ("my clip.mp4", clip.read_bytes(), "video/mp4")),
                                        ("style", ("s.png", png(), "image/png"))],
                    data={"kind": "video", "options": json.dumps({**TINY, "iterations": 1}),
                          "video_options": json.dumps({"max_frames": 2, "temporal_weight": 0.5})})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "video" and job["video_options"] == {"max_frames": 2, "temporal_weight": 0.5}
    events = read_events(client, job["id"])
    final = events[-1][1]
    assert final["state"] == "done", final["error"]
    assert [d["iteration"] for k, d in events if k == "progress" and d["stage"] == "video"] == [1, 2]
    assert final["info"]["frames"] == 2
    res = client.get(final["result"])
    assert res.status_code == 200 and res.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(res.content)) as got:
        assert sum(1 for _ in got.decode(video=0)) == 2
    assert client.get(final["sidecar"]).json()["video"]["temporal_weight"] == 0.5


def test_video_job_with_keyframed_styles(client, tmp_path):
    """Two uploaded paintings and style_at '0=1, 0.1=2': the style changes along the clip; the sidecar
    records the keyframes; a painting number beyond the uploads is refused before the job exists."""
    info = client.get("/api/info").json()
    if not info["video"]:
        pytest.skip(f"video jobs unavailable here: {info['video_reason']}")
    clip = tmp_path / "frames"
    clip.mkdir()
    import av

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            rgb = np.full((32, 32, 3), 60 + 40 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    files = [("content", ("clip.mp4", path.read_bytes(), "video/mp4")), ("style", ("a.png", png(), "image/png")),
             ("style", ("b.png", png(), "image/png"))]
    data = {"kind": "video", "options": json.dumps({**TINY, "iterations": 1}),
            "video_options": json.dumps({"max_frames": 3, "style_at": "0=1, 0.1=2"})}
    r = client.post("/api/jobs", files=files, data=data)
    assert r.status_code == 201, r.text
    final = read_events(client, r.json()["id"])[-1][1]
    assert final["state"] == "done", final["error"]
    keyframes = client.get(final["sidecar"]).json()["inputs"]["style_at"]
    assert [k[0] for k in keyframes] == [0.0, 0.1]
    bad = client.post("/api/jobs", files=files, data={**data, "video_options": json.dumps({"style_at": "0=starry"})})
    assert bad.status_code == 422 and "numbers of uploaded paintings" in bad.json()["detail"]


def test_video_uploads_are_checked(client):
    info = client.get("/api/info").json()
    if not info["video"]:
        pytest.skip(f"video jobs unavailable here: {info['video_reason']}")
    r = client.post("/api/jobs", files=[("content", ("a.mp4", png(), "video/mp4")),
                                        ("style", ("s.png", png(), "image/png"))],
                    data={"kind": "video", "options": json.dumps(TINY)})
    assert r.status_code == 422 and "is not a video this server accepts" in r.json()["detail"]
    r = client.post("/api/jobs", files=files(), data={"kind": "video", "video_options": '{"max_frames": 100000}'})
    assert r.status_code == 422 and "max_frames must be between 1 and 300" in r.json()["detail"]


def test_johnson_job_with_an_installed_model(tmp_path, monkeypatch, no_bundled_models):
    """A feed-forward job by model name (from $ATELIER_HOME/models), no style; paths are refused."""
    import torch

    from atelier.engine.checkpoint import save_model
    from atelier.methods.johnson.model import TransformerNet

    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    net = TransformerNet.from_arch("compact").eval()
    model = save_model(tmp_path / "home" / "models" / "tiny.safetensors", net.state_dict(), method="johnson",
                       arch=net.arch, card={"style": "test pattern"})
    with TestClient(create_app(tmp_path / "jobs"), base_url=BASE) as c:
        schema = {m["name"]: m for m in c.get("/api/methods").json()}["johnson"]
        assert {o["name"]: o for o in schema["options"]}["model"]["choices"] == ["tiny"]
        assert [m["name"] for m in c.get("/api/models").json()] == ["tiny"]
        r = c.post("/api/jobs", files=files(style=False), data={"method": "johnson", "options": json.dumps({})})
        assert r.status_code == 422 and r.json()["detail"] == (
            "The johnson method needs a model; installed models: tiny.")
        r = c.post("/api/jobs", files=files(style=False),
                   data={"method": "johnson", "options": json.dumps({"model": str(model)})})
        assert r.status_code == 422 and "Unknown model" in r.json()["detail"]
        r = c.post("/api/jobs", files=files(style=False),
                   data={"method": "johnson", "options": json.dumps({"model": "tiny", "size": 24})})
        assert r.status_code == 201, r.text
        final = read_events(c, r.json()["id"])[-1][1]
        assert final["state"] == "done", final["error"]
        assert final["inputs"]["style_names"] == []
        with Image.open(io.BytesIO(c.get(final["result"]).content)) as img:
            assert img.size == (24, 19)
        assert c.get(final["sidecar"]).json()["model"]["name"] == "tiny"


def test_event_stream_resumes_after_last_event_id(client):
    job = create(client).json()
    ids = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as r:
        for line in r.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            if line == "event: end":
                break
    assert ids == list(range(len(ids))) and len(ids) >= 5
    resumed = []
    with client.stream("GET", f"/api/jobs/{job['id']}/events", headers={"Last-Event-ID": str(ids[-3])}) as r:
        for line in r.iter_lines():
            if line.startswith("id: "):
                resumed.append(int(line[4:]))
    assert resumed == ids[-2:]  # after the unnumbered state snapshot, only what came after that id


def test_adain_runs_without_a_model_once_its_default_decoder_is_installed(tmp_path, monkeypatch, no_bundled_models):
    from atelier.engine.checkpoint import save_model
    from atelier.methods.adain.method import AdaINNet
    from atelier.web.schema import OptionsError, resolve_options

    monkeypatch.setenv("ATELIER_HOME", str(tmp_path / "home"))
    with pytest.raises(OptionsError, match=r"needs a model; installed models: none yet \(see atelier train adain\)"):
        resolve_options("adain", {}, n_styles=1, max_size=1024)
    net = AdaINNet("compact")
    save_model(tmp_path / "home" / "models" / "adain.safetensors", net.state_dict(), method="adain", arch=net.arch)
    options = resolve_options("adain", {"alpha": 0.5}, n_styles=1, max_size=1024)
    assert options["alpha"] == 0.5 and "model" not in options  # the method's default decoder: 'adain'
    with pytest.raises(OptionsError, match="needs a model"):  # johnson has no default model
        resolve_options("johnson", {}, n_styles=0, max_size=1024)


def create_texture(client, method="quilting", options=None, texture=None, sample=None):
    return client.post("/api/jobs", files=[("style", ("bark.png", sample or png(48, 48, seed=3), "image/png"))],
                       data={"kind": "texture", "method": method, "options": json.dumps(options or {}),
                             "texture_options": json.dumps(texture or {})})


def test_texture_job_makes_a_texture_of_the_asked_size(client):
    r = create_texture(client, options={"block": 8, "sample_size": 0}, texture={"width": 40, "height": 24})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "texture" and job["texture_options"] == {"width": 40, "height": 24, "tileable": False}
    assert job["inputs"]["content"] is None and job["inputs"]["style_names"] == ["bark.png"]
    events = read_events(client, job["id"])
    final = events[-1][1]
    assert final["state"] == "done", final["error"]
    assert any(k == "progress" for k, _ in events)
    assert Image.open(io.BytesIO(client.get(final["result"]).content)).size == (40, 24)
    sidecar = client.get(final["sidecar"]).json()
    assert sidecar["texture"] == {"size": [40, 24], "tileable": False} and sidecar["method"] == "quilting"


@pytest.mark.parametrize("method,options,texture,expected", [
    ("adain", {}, {}, "does not synthesise textures"),
    ("quilting", {}, {"tileable": True}, "cannot make tileable"),
    ("quilting", {"preserve_color": "luminance"}, {}, "not used when the quilting method synthesises"),
    ("quilting", {}, {"width": 5}, "width must be a whole number from 8"),
    ("quilting", {}, {"depth": 3}, "Unknown texture option"),
])
def test_bad_texture_jobs_answer_422(client, method, options, texture, expected):
    r = create_texture(client, method=method, options=options, texture=texture)
    assert r.status_code == 422 and expected in r.json()["detail"], r.text


def test_texture_job_takes_one_sample_and_no_content(client):
    r = client.post("/api/jobs", files=files(), data={"kind": "texture", "method": "quilting"})
    assert r.status_code == 422 and "one sample image" in r.json()["detail"]


def mask_png(w=40, h=32, box=(8, 8, 24, 20)) -> bytes:
    m = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    buf = io.BytesIO()
    Image.fromarray(m).save(buf, format="PNG")
    return buf.getvalue()


def test_a_fill_job_takes_a_mask_and_changes_only_its_region(client):
    photo = png(40, 32, seed=5)
    r = client.post("/api/jobs", files=[("content", ("photo.png", photo, "image/png")),
                                        ("mask", ("hole.png", mask_png(), "image/png"))],
                    data={"method": "efros_leung", "options": json.dumps({"size": 0, "window": 5})})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["inputs"]["mask_names"] == ["hole.png"] and len(job["inputs"]["masks"]) == 1
    final = read_events(client, job["id"])[-1][1]
    assert final["state"] == "done", final["error"]
    out = np.asarray(Image.open(io.BytesIO(client.get(final["result"]).content)).convert("RGB")).astype(int)
    src = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB")).astype(int)
    outside = np.ones((32, 40), bool)
    outside[8:20, 8:24] = False
    assert np.abs(out[outside] - src[outside]).max() <= 1  # PNG rounding only
    assert np.abs(out[~outside] - src[~outside]).mean() > 5  # the hole is filled from elsewhere
    assert client.get(job["inputs"]["masks"][0]).content == mask_png()


def test_masks_are_checked_against_the_method(client):
    no_mask = client.post("/api/jobs", files=files(style=False), data={"method": "efros_leung"})
    assert no_mask.status_code == 422 and "give one --mask" in no_mask.json()["detail"]
    gatys = client.post("/api/jobs", files=[*files(), ("mask", ("m.png", mask_png(), "image/png"))],
                        data={"method": "gatys", "options": json.dumps(TINY)})
    assert gatys.status_code == 201, gatys.text  # one mask for one style
    two = client.post("/api/jobs", files=[*files(), ("mask", ("a.png", mask_png(), "image/png")),
                                          ("mask", ("b.png", mask_png(), "image/png"))],
                      data={"method": "gatys", "options": json.dumps(TINY)})
    assert two.status_code == 422 and "give one mask per style" in two.json()["detail"]
    video = client.post("/api/jobs", files=[*files(), ("mask", ("m.png", mask_png(), "image/png"))],
                        data={"method": "gatys", "kind": "video"})
    assert video.status_code == 422


def test_a_mix_job_takes_coarse_and_fine_paintings_and_a_colour_image(client):
    mixed = [("content", ("photo.png", png(), "image/png")),
             ("coarse_style", ("a.png", png(seed=1), "image/png")), ("fine_style", ("b.png", png(seed=2), "image/png")),
             ("color_from", ("red.png", png(seed=3), "image/png"))]
    r = client.post("/api/jobs", files=mixed, data={"method": "gatys", "options": json.dumps(TINY)})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["inputs"]["scale_mix"] and job["inputs"]["style_names"] == ["a.png", "b.png"]
    assert job["inputs"]["color_from_name"] == "red.png"
    final = read_events(client, job["id"])[-1][1]
    assert final["state"] == "done", final["error"]
    inputs = client.get(final["sidecar"]).json()["inputs"]
    assert inputs["coarse_blocks"] == [3, 4, 5] and inputs["color_from"]
    assert client.get(job["inputs"]["color_from"]).content == png(seed=3)


@pytest.mark.parametrize("method, parts, expected", [
    ("gatys", ["style", "coarse_style", "fine_style"], "not both"),
    ("gatys", ["coarse_style"], "go together"),
    ("adain", ["coarse_style", "fine_style"], "gatys, wct"),
    ("gatys", ["style", "color_from_text"], "not an image"),
])
def test_bad_mix_jobs_answer_422(client, method, parts, expected):
    sent = [("content", ("photo.png", png(), "image/png"))]
    for i, part in enumerate(parts):
        name, body = (part, png(seed=i + 1)) if part != "color_from_text" else ("color_from", b"hello")
        sent.append((name, (f"{part}.png", body, "image/png")))
    r = client.post("/api/jobs", files=sent, data={"method": method, "options": json.dumps(TINY if method == "gatys" else {})})
    assert r.status_code == 422 and expected in r.json()["detail"], r.text
