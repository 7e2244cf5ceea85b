"""The front ends the corpus runs every case through, in-process (``atelier.cli.main(argv)``) or through the
web app's test client, with cheap settings (32 px, one iteration or step).

A front end turns :class:`Args` (the workspace's good inputs, with the case's hostile part swapped in) into
a run and returns an :class:`Outcome`. ``FRONT_ENDS`` is the list the corpus test is parametrised over.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from atelier.cli import main

from . import inputs

GATYS = ["--size", "32", "--min-size", "32", "--iterations", "1", "--coarse-iterations", "0", "-q"]
WEB_TINY = {"size": 32, "min_size": 32, "iterations": 1, "coarse_iterations": 0, "weights": "random"}
MODEL = "starry_night"  # a bundled johnson model


@dataclass
class Args:
    """What one run is given; the workspace fills the good defaults, a case replaces one part."""

    image: Path | None = None  # the front end's main image: photo, sample, style to train, result to judge
    style: Path | None = None
    out: Path | None = None
    model: str | Path = MODEL
    video: Path | None = None
    data: Path | None = None
    extra: list = field(default_factory=list)  # CLI options added
    web_options: dict = field(default_factory=dict)  # the web form's options added
    web_data: dict = field(default_factory=dict)  # other form fields (seed, kind, ...)
    separator: bool = False  # put the image after '--' (a name that starts with '-')


@dataclass
class Outcome:
    code: int | str  # the exit code, an HTTP status, or "exception: ..." (a traceback a user would see)
    message: str  # what the user reads: stderr's lines, or the HTTP detail / job error
    output: Path | None = None  # where the result is (CLI) or the result bytes' image (web)
    image_size: tuple[int, int] | None = None  # (width, height) of the image made, if any


def run_cli(argv: list) -> Outcome:
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # noqa: BLE001 - an uncaught exception is a traceback for the user
        code = f"exception: {type(exc).__name__}: {exc}"
    return Outcome(code, err.getvalue())


def _image_size(path: Path | None) -> tuple[int, int] | None:
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, TypeError, ValueError):
        return None


def _cli(build: Callable[[Args], list], out_is_image: bool = True):
    def run(args: Args) -> Outcome:
        outcome = run_cli(build(args))
        outcome.output = args.out
        if out_is_image and outcome.code == 0:
            outcome.image_size = _image_size(args.out)
        return outcome
    return run


def _cmd(head: list, positional: list, options: list, args: Args) -> list:
    """Positionals first (an option taking several values would swallow them), or after '--' for a name
    that starts with '-'."""
    if args.separator:
        return [*head, *options, *args.extra, "--", *positional]
    return [*head, *positional, *options, *args.extra]


@dataclass
class FrontEnd:
    name: str
    run: Callable[[Args], Outcome]
    out_name: str  # the default output's name in the workspace
    long_side: int | None = 32  # the long side of a successful image result


def unblock_fifos_later(folder: Path, seconds: float = 20.0) -> threading.Event:
    """A FIFO given as input must be refused, not read: if a front end opens one anyway, a writer opens and
    closes every FIFO under ``folder`` after ``seconds``, so the read ends and the test fails instead of
    hanging. Set the returned event to call it off; its ``fired`` says whether a run had to be unblocked."""
    done = threading.Event()
    done.fired = False

    def unblock():
        if done.wait(seconds):
            return
        done.fired = True
        for p in folder.rglob("*"):
            if p.is_fifo():
                with contextlib.suppress(OSError):
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
    threading.Thread(target=unblock, daemon=True).start()
    return done


FRONT_ENDS: dict[str, FrontEnd] = {
    fe.name: fe for fe in [
        FrontEnd("stylize-gatys", _cli(lambda a: _cmd(["stylize"], [a.image, a.style], ["-o", a.out, *GATYS], a)),
                 "out.png"),
        FrontEnd("stylize-johnson", _cli(lambda a: _cmd(["stylize"], [a.image], ["--model", a.model, "-o", a.out,
                                                                          "--size", "32", "-q"], a)), "out.png"),
        FrontEnd("stylize-adain", _cli(lambda a: _cmd(["stylize"], [a.image, a.style], ["--method", "adain", "-o",
                                                                              a.out, "--size", "32", "-q"], a)), "out.png"),
        FrontEnd("stylize-quilting", _cli(lambda a: _cmd(["stylize"], [a.image, a.style], ["--method", "quilting",
                                                                                 "-o", a.out, "--size", "32", "-q"], a)), "out.png"),
        FrontEnd("texture", _cli(lambda a: _cmd(["texture"], [a.image], ["-o", a.out, "--size", "32", "-q"], a)),
                 "tex.png"),
        # The video's style is the front end's main image (a bad painting must leave no job state behind).
        # A model file given (the model cases) runs it instead.
        FrontEnd("video", _cli(lambda a: ["video", a.video, a.out, *(
            ["--model", a.model] if isinstance(a.model, Path) else ["--method", "adain", "--style", a.image]),
            "--size", "32", "-q", *a.extra], out_is_image=False), "out.mp4", None),
        # The style to train is the main image.
        FrontEnd("train", _cli(lambda a: ["train", "johnson", "--style", a.image, "--data", a.data, "-o", a.out,
                                          "--steps", "1", "--size", "32", "--batch-size", "1", "--style-size", "32",
                                          "--preview-every", "1", "-q", *a.extra], out_is_image=False),
                 "m.safetensors", None),
        # The result to judge is the main image.
        FrontEnd("eval", _cli(lambda a: _cmd(["eval"], [a.image], ["--content", a.style, "--size", "32"], a),
                              out_is_image=False), "nothing", None),
        FrontEnd("compare", _cli(lambda a: ["compare", "--content", a.image, "--style", a.style, "-o", a.out,
                                            "--run", "gatys:size=32,min_size=32,iterations=1,coarse_iterations=0",
                                            "--eval-size", "32", *a.extra], out_is_image=False), "cmp", None),
        # The painting to explain is the main image; the output is a folder.
        FrontEnd("explain", _cli(lambda a: _cmd(["explain"], [a.image], ["-o", a.out, "--size", "32", "--iterations",
                                                                 "1", "-q"], a), out_is_image=False), "sheet", None),
        FrontEnd("export", _cli(lambda a: ["export", a.model, "-o", a.out, *a.extra], out_is_image=False),
                 "m.onnx", None),
        # `atelier batch`: the command's own options are refused before any item (exit 2, nothing written);
        # a bad input file fails its item only (exit 1, recorded in the manifest): tests/test_batch.py.
        FrontEnd("batch", _cli(lambda a: _cmd(["batch"], [a.image], ["--model", a.model, "-o", a.out, "--size", "32",
                                                               "--workers", "1", "-q"], a), out_is_image=False),
                 "out"),
        FrontEnd("web", lambda a: run_web(a), "", 32),
        FrontEnd("web-video", lambda a: run_web(a, kind="video"), "", None),
    ]
}


# ------------------------------------------------------------------------------------------------- web

_WEB: dict = {}


def web_client(jobs_dir: Path):
    """One test client (workers running) for the corpus, over its own jobs folder."""
    if "client" not in _WEB:
        from fastapi.testclient import TestClient

        from atelier.web import create_app

        client = TestClient(create_app(jobs_dir), base_url="http://127.0.0.1:7860")
        client.__enter__()
        _WEB.update(client=client, jobs=jobs_dir)
    return _WEB["client"]


def close_web() -> None:
    if "client" in _WEB:
        _WEB.pop("client").__exit__(None, None, None)


def run_web(args: Args, kind: str = "image") -> Outcome:
    client = _WEB["client"]
    if kind != "image":
        args.web_data["kind"] = kind
    upload = args.video if kind == "video" else args.image
    files = [("content", (upload.name, upload.read_bytes(), "video/mp4" if kind == "video" else "image/png")),
             ("style", (args.style.name, args.style.read_bytes(), "image/png"))]
    data = {"method": "gatys", "options": json.dumps({**WEB_TINY, **args.web_options}),
            **{k: str(v) for k, v in args.web_data.items()}}
    if kind == "video":
        data["video_options"] = json.dumps({"max_frames": 2})
    try:
        r = client.post("/api/jobs", files=files, data=data)
    except Exception as exc:  # noqa: BLE001 - the server raised instead of answering
        return Outcome(f"exception: {type(exc).__name__}: {exc}", "")
    if r.status_code != 201:
        detail = r.json().get("detail") if r.headers.get("content-type", "").startswith("application/json") else r.text
        return Outcome(r.status_code, detail if isinstance(detail, str) else json.dumps(detail))
    job = r.json()
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    if job["state"] != "done":
        return Outcome(f"job {job['state']}", job.get("error") or "")
    res = client.get(job["result"])
    size = None
    if kind != "video":
        with Image.open(io.BytesIO(res.content)) as im:
            size = im.size
    return Outcome(201, "", image_size=size)


def make_workspace(folder: Path, fe: FrontEnd) -> Args:
    """The good inputs of a run in ``folder``: a photo, a painting, the output's name; a clip for video, a
    photo folder for training."""
    args = Args(image=inputs.save(folder, "photo.png"), style=inputs.save(folder, "painting.png",
                                                                         inputs.photo(40, 40, seed=3)),
                out=folder / fe.out_name)
    if fe.name in ("video", "web-video"):
        args.video = inputs.clip(folder)
    if fe.name == "train":
        args.data = inputs.photo_folder(folder)
    return args
