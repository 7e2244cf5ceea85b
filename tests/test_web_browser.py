"""End to end in a real headless Chromium (Debian's ``chromium`` driven by Playwright; never a downloaded
browser): the page uploads two images, runs a small fast job, receives its progress events, shows the
result with the before/after slider, downloads a valid PNG, lists it in the gallery, loads nothing from
other origins, and fits a phone-width screen; and a video job: a 3-frame MP4 uploaded on the Video tab,
per-frame progress events, the result played by the page's <video> element.

Skips only where chromium or Playwright is absent; under CI (``CI`` set) their absence is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI, where the browser test must run (.ci/run installs it).")
    pytest.skip(f"{what} is not installed here (apt-get install chromium; pip install -e '.[dev]').")


@pytest.fixture(scope="module")
def browser_bits():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    _require("The Python package playwright", sync_playwright is not None)
    exe = chromium_path()
    _require("Debian's chromium", exe is not None)
    return sync_playwright, exe


class Server:
    """The app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, jobs_dir: Path):
        import uvicorn

        from atelier.web import LOOPBACK_HOSTS, create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = create_app(jobs_dir, allowed_hosts=LOOPBACK_HOSTS)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:  # set by uvicorn once the socket listens
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def write_image(path: Path, w: int, h: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    noise = rng.normal(0, 40, (h, w, 3))
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)
    return path


# Records every server-sent event the page's EventSource receives, for the assertions below.
RECORD_EVENTS = """
window.__sse = [];
const Native = window.EventSource;
window.EventSource = class extends Native {
  constructor(...args) {
    super(...args);
    for (const t of ["state", "stage", "progress", "end"]) {
      this.addEventListener(t, (e) => window.__sse.push({ type: t, data: JSON.parse(e.data) }));
    }
  }
};
"""


def test_page_uploads_runs_streams_and_downloads(browser_bits, tmp_path):
    sync_playwright, exe = browser_bits
    content = write_image(tmp_path / "my photo.png", 48, 40, 0)
    style = write_image(tmp_path / "painting.jpg", 40, 40, 1)
    with Server(tmp_path / "jobs") as base, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, accept_downloads=True)
        try:
            page = ctx.new_page()
            requests, errors = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(RECORD_EVENTS)
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            # The form is generated from the method's config: the CLI's defaults and help texts.
            assert page.input_value("#opt-size") == "512"
            assert "Long side of the output image" in page.inner_text("[data-option=size] .help")

            page.set_input_files("#content-file", str(content))
            page.set_input_files("#style-file", str(style))
            assert page.inner_text("#drop-content .name") == "my photo.png"
            page.fill("#opt-size", "48")
            page.fill("#opt-iterations", "3")
            page.click("#more summary")
            page.fill("#seed", "7")
            page.click("#start")
            page.wait_for_selector("#compare:not([hidden])", timeout=180_000)

            assert page.inner_text("#state").lower() == "done"
            events = page.evaluate("window.__sse")
            progress = [e["data"] for e in events if e["type"] == "progress"]
            assert [p["iteration"] for p in progress] == [1, 2, 3]
            assert all({"content", "style", "total"} <= set(p["losses"]) for p in progress)
            assert any(p.get("preview", "").startswith("data:image/jpeg;base64,") for p in progress)
            assert any(e["type"] == "stage" for e in events)
            assert events[-1]["type"] == "end" and events[-1]["data"]["state"] == "done"
            assert events[-1]["data"]["seed"] == 7
            assert events[-1]["data"]["options"] == {"size": 48, "iterations": 3}  # only what was changed
            assert page.get_attribute("#preview", "src").startswith("data:image/jpeg")  # shown while forming

            # The before/after slider moves the split.
            page.fill("#slider", "20")
            page.dispatch_event("#slider", "input")
            assert "80%" in page.get_attribute("#before-clip", "style")

            with page.expect_download() as info:
                page.click("#download")
            download = info.value
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            assert saved.suffix == ".png"
            with Image.open(saved) as img:
                assert img.format == "PNG" and img.size == (48, 40)

            cards = page.locator("#gallery-list li[data-state=done]")
            assert cards.count() == 1
            assert "48 px" in cards.first.inner_text() and "iterations 3" in cards.first.inner_text()

            # Phone width: one column, nothing wider than the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390

            # Deleting from the gallery removes the job (after a confirmation).
            page.on("dialog", lambda d: d.accept())
            cards.first.locator("button.delete").click()
            page.wait_for_selector("#gallery-empty:not([hidden])")
            assert page.locator("#gallery-list li").count() == 0

            assert errors == []
            elsewhere = [u for u in requests if not u.startswith((base + "/", "data:", "blob:"))]
            assert elsewhere == []
        finally:
            ctx.close()


def test_page_runs_a_video_job_and_plays_the_result(browser_bits, tmp_path):
    sync_playwright, exe = browser_bits
    av = pytest.importorskip("av", reason="video jobs need PyAV (the video extra)")
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            rgb = np.full((32, 32, 3), 60 * i, dtype=np.uint8)
            rgb[8:24, 4 + 4 * i:20 + 4 * i] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    style = write_image(tmp_path / "painting.png", 40, 40, 1)
    style2 = write_image(tmp_path / "painting2.png", 40, 40, 2)
    with Server(tmp_path / "jobs") as base, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            page.add_init_script(RECORD_EVENTS)
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.click("#tab-video")
            if page.is_visible("#video-note"):
                pytest.skip(f"video jobs unavailable: {page.inner_text('#video-note')}")
            page.set_input_files("#content-file", str(clip))
            page.set_input_files("#style-file", [str(style), str(style2)])
            page.fill("#opt-max_frames", "2")
            page.fill("#opt-style_at", "0=1, 0.1=2")  # keyframed styles: painting 1, then painting 2
            page.fill("#opt-size", "32")
            page.fill("#opt-iterations", "1")
            page.click("#start")
            page.wait_for_selector("#video-result:not([hidden])", timeout=180_000)
            frames = [e["data"]["iteration"] for e in page.evaluate("window.__sse")
                      if e["type"] == "progress" and e["data"]["stage"] == "video"]
            assert frames == [1, 2]
            # The browser loads the MP4 it is given (H.264): its metadata gives the clip's size.
            page.wait_for_function("document.querySelector('#video-result').readyState >= 1", timeout=30_000)
            assert page.evaluate("document.querySelector('#video-result').videoWidth") == 32
            href = page.get_attribute("#download", "href")
            assert href.endswith("/result?download=true")
            sidecar = page.evaluate("async (u) => (await fetch(u)).json()", href.replace("/result?download=true",
                                                                                     "/sidecar"))
            assert [k[0] for k in sidecar["inputs"]["style_at"]] == [0.0, 0.1]
        finally:
            ctx.close()


@contextlib.contextmanager
def ready_page(browser_bits, tmp_path):
    """(page, page errors) of the served page, loaded and wired, at 1280x900; closed afterwards."""
    sync_playwright, exe = browser_bits
    with Server(tmp_path / "jobs") as base, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=exe, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            yield page, errors
        finally:
            ctx.close()


def test_page_makes_a_texture_on_the_texture_tab(browser_bits, tmp_path):
    sample = write_image(tmp_path / "bark.png", 48, 48, 2)
    with ready_page(browser_bits, tmp_path) as (page, errors):
        page.click("#tab-texture")
        # Only methods that synthesise textures; no photo; none of a photo's options.
        methods = page.eval_on_selector_all("#method option", "os => os.map(o => o.value)")
        assert "quilting" in methods and "efros_leung" in methods and "adain" not in methods
        assert page.input_value("#method") == "quilting"
        assert page.is_hidden("#drop-content") and page.inner_text("#style-title") == "Sample"
        assert page.locator("#opt-preserve_color").count() == 0 and page.locator("#opt-block").count() == 1
        assert page.is_disabled("#opt-tileable")  # quilting cannot wrap around
        page.select_option("#method", "efros_leung")
        assert not page.is_disabled("#opt-tileable")
        page.select_option("#method", "quilting")
        page.set_input_files("#style-file", str(sample))
        page.fill("#opt-width", "40")
        page.fill("#opt-height", "24")
        page.fill("#opt-block", "8")
        page.click("#more summary")
        page.fill("#opt-sample_size", "0")
        page.click("#start")
        page.wait_for_selector("#compare:not([hidden])", timeout=120_000)
        assert page.inner_text("#state").lower() == "done"
        assert page.is_hidden("#slider")  # no before side for a texture
        size = page.evaluate("[document.querySelector('#after').naturalWidth,"
                             " document.querySelector('#after').naturalHeight]")
        assert size == [40, 24]
        assert "texture of bark.png" in page.inner_text("#gallery-list li")
        assert errors == []


def test_page_fills_a_hole_with_a_mask(browser_bits, tmp_path):
    photo = write_image(tmp_path / "photo.png", 48, 40, 3)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:22, 12:30] = 255
    Image.fromarray(mask).save(tmp_path / "hole.png")
    with ready_page(browser_bits, tmp_path) as (page, errors):
        assert page.is_visible("#drop-mask")  # gatys: optional masks, one per painting
        page.select_option("#method", "efros_leung")
        assert page.is_hidden("#drop-style") and page.inner_text("#mask-title") == "Hole"
        page.set_input_files("#content-file", str(photo))
        page.click("#start")
        assert "Choose a mask first" in page.inner_text("#form-error")
        page.set_input_files("#mask-file", str(tmp_path / "hole.png"))
        page.fill("#opt-size", "0")
        page.click("#more summary")
        page.fill("#opt-window", "5")
        page.click("#start")
        page.wait_for_selector("#compare:not([hidden])", timeout=120_000)
        assert page.inner_text("#state").lower() == "done"
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == []


def test_page_mixes_coarse_and_fine_paintings_and_a_colour_image(browser_bits, tmp_path):
    sync_playwright, exe = browser_bits
    images = {n: write_image(tmp_path / f"{n}.png", 40, 40, i) for i, n in enumerate(("photo", "a", "b", "colours"))}
    with Server(tmp_path / "jobs") as base, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            page = ctx.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script(RECORD_EVENTS)
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.select_option("#method", "adain")  # no per-layer statistics: only the colour input
            assert page.is_hidden("#coarse-file") and not page.locator("#mix").is_hidden()
            page.select_option("#method", "gatys")
            page.set_input_files("#content-file", str(images["photo"]))  # no painting: the mix replaces it
            page.click("#mix summary")
            page.set_input_files("#coarse-file", str(images["a"]))
            page.set_input_files("#fine-file", str(images["b"]))
            page.set_input_files("#color-file", str(images["colours"]))
            page.fill("#opt-size", "32")
            page.fill("#opt-iterations", "2")
            page.click("#start")
            page.wait_for_selector("#compare:not([hidden])", timeout=180_000)
            end = [e for e in page.evaluate("window.__sse") if e["type"] == "end"][-1]["data"]
            assert end["state"] == "done" and end["inputs"]["scale_mix"]
            assert end["inputs"]["style_names"] == ["a.png", "b.png"] and end["inputs"]["color_from_name"] == "colours.png"
            assert errors == []
        finally:
            ctx.close()
