"""Make docs/web-desktop.png and docs/web-phone.png: the page after a real job, in headless Chromium.

    python docs/web_screenshots.py          # needs Debian's chromium and the dev extra (playwright)

Runs `atelier serve` on a fresh jobs folder, stylises the bundled photo with the bundled painting through
the page (256 px), then photographs the page at 1280x900 and at phone width (390x844, whole page).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="atelier-shots-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "atelier", "serve", "--port", str(port),
                               "--jobs-dir", str(tmp / "jobs")])
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/api/info", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp / "profile"), executable_path=shutil.which("chromium"), headless=True, args=ARGS,
                viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            page.click("text=use the example photo")
            page.click("text=use The Starry Night")
            page.fill("#opt-size", "256")
            page.fill("#opt-iterations", "40")
            page.wait_for_function("document.querySelector('#drop-style .name')?.textContent")  # names shown
            page.click("#start")
            page.wait_for_selector("#state:not([hidden]), #form-error:not([hidden])", timeout=30_000)
            error = page.inner_text("#form-error")
            if error:
                raise SystemExit(f"The page refused the job: {error}")
            page.wait_for_selector("#compare:not([hidden])", timeout=900_000)
            page.wait_for_timeout(500)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(DOCS / "web-desktop.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(300)
            page.screenshot(path=str(DOCS / "web-phone.png"), full_page=True)
            ctx.close()
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Wrote {DOCS / 'web-desktop.png'} and {DOCS / 'web-phone.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
