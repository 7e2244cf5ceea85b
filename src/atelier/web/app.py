"""The FastAPI app: the HTTP API (described at /openapi.json, read at /docs) and the one static page.

Everything goes through the public API (``import atelier``) and :mod:`atelier.web.jobs`. The guard in
front of the app (:class:`Guard`) enforces, before any route runs: the request-size limit (413), the
token when one is set (401), the Host header on a loopback server without a token (so a web site cannot
reach it by DNS rebinding), and same-origin for requests that change something (so a web site cannot
post jobs to it from the user's browser).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import shutil
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

import atelier

from .jobs import TERMINAL, Job, JobStore, video_unavailable_reason
from .schema import OptionsError, method_schema, resolve_options

logger = logging.getLogger(__name__)

MB = 1 << 20
DEFAULT_MAX_UPLOAD = 100 * MB  # one request (all its files)
DEFAULT_MAX_PIXELS = 40_000_000  # per uploaded image, checked from the header before decoding
DEFAULT_MAX_SIZE = 4096  # long side of an output
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TOKEN_COOKIE = "atelier_token"

# Formats accepted as images (as detected by decoding, not by the file name) and their stored extension.
IMAGE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
MAX_STYLES = 8
DEFAULT_MAX_FRAMES = 300  # frames of one video job (12 s at 25 fps)


def video_options_schema(max_frames: int) -> list[dict]:
    """The options of a video job beyond the method's (those of ``atelier.stylize_video``)."""
    return [
        {"name": "max_frames", "type": "integer", "list": False, "nullable": False, "default": max_frames,
         "help": f"Stylise at most this many frames from the start (this server's limit: {max_frames}).",
         "paper": "", "basic": True, "form": True},
        {"name": "temporal_weight", "type": "number", "list": False, "nullable": False, "default": 1.0,
         "help": "How strongly each frame follows the previous result along the motion (0: every frame "
                 "on its own, which flickers).", "paper": "Ruder et al. 2016", "basic": True, "form": True},
    ]


def resolve_video_options(raw: dict, max_frames: int) -> dict:
    if not isinstance(raw, dict):
        raise OptionsError("The video options must be a JSON object, e.g. {\"max_frames\": 50}.")
    unknown = sorted(set(raw) - {"max_frames", "temporal_weight"})
    if unknown:
        raise OptionsError(f"Unknown video option(s) {', '.join(unknown)}; valid: max_frames, temporal_weight.")
    out = {"max_frames": max_frames, "temporal_weight": 1.0}
    try:
        if "max_frames" in raw:
            out["max_frames"] = int(raw["max_frames"])
        if "temporal_weight" in raw:
            out["temporal_weight"] = float(raw["temporal_weight"])
    except (TypeError, ValueError):
        raise OptionsError("max_frames must be a whole number and temporal_weight a number.") from None
    if not 1 <= out["max_frames"] <= max_frames:
        raise OptionsError(f"max_frames must be between 1 and {max_frames} on this server, not {out['max_frames']}.")
    if not out["temporal_weight"] >= 0:
        raise OptionsError(f"temporal_weight must be 0 or more, not {out['temporal_weight']}.")
    return out


def _bundled() -> dict[str, dict[str, Any]]:
    content, style = atelier.default_inputs()
    return {
        "example-photo": {"role": "content", "path": content, "name": "example photo",
                          "title": "Example photo (china.jpg, scikit-learn sample, CC BY 2.0)"},
        "starry-night": {"role": "style", "path": style, "name": "The Starry Night",
                         "title": "Vincent van Gogh, The Starry Night (1889)"},
    }


class Guard:
    """ASGI middleware: size limit, token, Host and Origin checks (see the module docstring)."""

    def __init__(self, app, *, token: str | None, max_body: int, allowed_hosts: set[str] | None):
        self.app, self.token, self.max_body, self.allowed_hosts = app, token, max_body, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _hostname(host) not in self.allowed_hosts:
            return await _deny(scope, receive, send, 421, f"This server answers only to "
                               f"{', '.join(sorted(self.allowed_hosts))}, not to the host {host!r}.")
        set_cookie = False
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = [headers.get("authorization", "").removeprefix("Bearer ").strip(),
                     _cookie(headers.get("cookie", ""), TOKEN_COOKIE), (query.get("token") or [""])[0]]
            ok = [bool(g) and hmac.compare_digest(g.encode(), self.token.encode()) for g in given]
            if not any(ok):
                return await _deny(scope, receive, send, 401, "This server needs its token: open the address "
                                   "printed by 'atelier serve' (it ends in ?token=...), or send the header "
                                   "'Authorization: Bearer TOKEN'.")
            set_cookie = ok[2] and not ok[1]
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if origin and origin != "null" and urlsplit(origin).netloc.lower() != host.lower():
                return await _deny(scope, receive, send, 403, "Requests from other web sites are refused.")
            if origin == "null":
                return await _deny(scope, receive, send, 403, "Requests from other web sites are refused.")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await _deny(scope, receive, send, 413, _too_large_message(self.max_body))

        seen, too_large, started = 0, False, False

        async def guarded_send(message):
            nonlocal started
            if too_large:  # the 413 went out already; what the app answers is dropped
                return
            if message["type"] == "http.response.start":
                started = True
                if set_cookie:  # the page's later requests (fetch, EventSource, <img>) carry the token
                    cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        async def limited_receive():
            # A body without Content-Length (chunked) is counted as it arrives: past the limit the client
            # gets 413 at once and the app sees a disconnect (so it stores nothing).
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    if not started:
                        await _deny(scope, receive, send, 413, _too_large_message(self.max_body))
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise


def _too_large_message(limit: int) -> str:
    amount = f"{limit / MB:.0f} MB" if limit >= MB else f"{limit / 1000:.0f} kB"
    return f"The upload is too large: this server accepts at most {amount} per request."


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:7860
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""


async def _deny(scope, receive, send, status: int, message: str) -> None:
    await JSONResponse({"detail": message}, status)(scope, receive, send)


def _error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def create_app(
    jobs_dir: str | Path,
    *,
    token: str | None = None,
    workers: int = 1,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_size: int = DEFAULT_MAX_SIZE,
    max_frames: int = DEFAULT_MAX_FRAMES,
    allowed_hosts: set[str] | None = None,
) -> Guard:
    """The web app over ``jobs_dir`` (an ASGI app: the FastAPI app as ``.app``, the jobs as ``.store``). ``allowed_hosts``: Host names answered (None: any; ``atelier serve``
    passes the loopback names when it runs without a token). Workers start with the app's lifespan."""
    store = JobStore(Path(jobs_dir), workers=workers)

    @asynccontextmanager
    async def lifespan(app):
        store.start()
        try:
            yield
        finally:
            store.stop()

    app = FastAPI(
        title="atelier", version=atelier.__version__, lifespan=lifespan,
        description="Neural style transfer jobs: create one (content, style or model, method, options), "
        "follow its progress events, fetch the result and its sidecar, cancel, list.",
        docs_url=None, redoc_url=None,  # their default pages load scripts from a CDN; /docs is local
    )
    app.state.store = store
    static = Path(str(resources.files("atelier.web") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs():
        return FileResponse(static / "docs.html", headers={"Cache-Control": "no-cache"})

    # -- what the server offers

    @app.get("/api/info", summary="Version, limits and what this server can run")
    def info() -> dict:
        reason = video_unavailable_reason()
        return {
            "version": atelier.__version__, "video": reason is None, "video_reason": reason,
            "video_options": video_options_schema(max_frames),
            "limits": {"max_upload_bytes": max_upload_bytes, "max_pixels": max_pixels, "max_size": max_size,
                       "max_frames": max_frames},
            "workers": store.workers,
        }

    @app.get("/api/methods", summary="The methods and their options (generated from their configs)")
    def methods() -> list[dict]:
        return [method_schema(m) for m in atelier.list_methods()]

    @app.get("/api/models", summary="Installed feed-forward models (bundled and the user's)")
    def models() -> list[dict]:
        return [{"name": m.name, "method": m.method, "bundled": m.bundled, "style": m.card.get("style"),
                 "error": m.error} for m in atelier.list_models()]

    @app.get("/api/bundled", summary="Bundled images: an example photo and a painting")
    def bundled() -> list[dict]:
        return [{"id": k, "role": v["role"], "name": v["name"], "title": v["title"], "url": f"/api/bundled/{k}"}
                for k, v in _bundled().items()]

    @app.get("/api/bundled/{item}", summary="A bundled image", response_class=FileResponse)
    def bundled_image(item: str):
        entry = _bundled().get(item)
        if entry is None:
            raise _error(404, f"No bundled image {item!r}.")
        return FileResponse(entry["path"])

    # -- jobs

    @app.post("/api/jobs", status_code=201, summary="Create a job",
              description="Multipart form: `content` (an image, or a video for kind=video) or "
              "`content_bundled`; `style` (one or more images) or `style_bundled` for methods that need a "
              "style; `method`; `options` (a JSON object of the method's options, see /api/methods); "
              "`seed`. Answers 413 for uploads over the size or pixel limit, 422 for files that are not "
              "images (or videos) and for options that do not fit.")
    async def create_job(
        content: Annotated[UploadFile | None, File()] = None,
        style: Annotated[list[UploadFile] | None, File()] = None,
        content_bundled: Annotated[str | None, Form()] = None,
        style_bundled: Annotated[str | None, Form()] = None,
        method: Annotated[str, Form()] = "gatys",
        options: Annotated[str, Form()] = "{}",
        seed: Annotated[int, Form()] = 0,
        kind: Annotated[str, Form()] = "image",
        video_options: Annotated[str, Form()] = "{}",
    ) -> dict:
        if kind not in ("image", "video"):
            raise _error(422, f"The job kind must be 'image' or 'video', not {kind!r}.")
        if kind == "video" and (reason := video_unavailable_reason()):
            raise _error(422, reason)
        if method not in atelier.list_methods():
            raise _error(422, f"Unknown method {method!r}; choose one of: {', '.join(atelier.list_methods())}.")
        spec = atelier.method_spec(method)
        if kind == "video" and not spec.capabilities.video:
            raise _error(422, f"The {method} method does not support video.")
        styles = [s for s in (style or []) if s.filename or s.size]
        n_styles = len(styles) + (1 if style_bundled else 0)
        if content is None and not content_bundled:
            raise _error(422, "Give a content image: upload one as 'content' or pick 'content_bundled'.")
        if spec.capabilities.needs_style and n_styles == 0:
            raise _error(422, f"The {method} method needs a style image: upload one as 'style' or pick "
                         "'style_bundled'.")
        if not spec.capabilities.needs_style and n_styles:
            raise _error(422, f"The {method} method takes no style image: its style is in the model.")
        if n_styles > 1 and not spec.capabilities.multiple_styles:
            raise _error(422, f"The {method} method takes one style image, not {n_styles}.")
        if n_styles > MAX_STYLES:
            raise _error(422, f"At most {MAX_STYLES} style images are accepted, not {n_styles}.")
        try:
            raw = json.loads(options or "{}")
            opts = resolve_options(method, raw, n_styles=max(1, n_styles), max_size=max_size)
            vopts = (resolve_video_options(json.loads(video_options or "{}"), max_frames) if kind == "video"
                     else {})
        except json.JSONDecodeError:
            raise _error(422, "The options must be a JSON object, e.g. {\"size\": 256}.") from None
        except OptionsError as err:
            raise _error(422, str(err)) from None

        job_id, d = store.new_dir()
        try:
            inputs: dict[str, Any] = {}
            if content is not None:
                inputs["content_file"], inputs["content_name"] = await _store_upload(
                    content, d, "content", video=kind == "video", max_pixels=max_pixels)
            else:
                inputs["content_file"], inputs["content_name"] = _store_bundled(content_bundled, "content", d)
            files, names = [], []
            for i, s in enumerate(styles):
                f, n = await _store_upload(s, d, f"style-{i}", video=False, max_pixels=max_pixels, role="style")
                files.append(f)
                names.append(n)
            if style_bundled:
                f, n = _store_bundled(style_bundled, "style", d, index=len(files))
                files.append(f)
                names.append(n)
            inputs["style_files"], inputs["style_names"] = files, names
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        job = Job(id=job_id, dir=d, kind=kind, method=method, options=opts, seed=seed, inputs=inputs,
                  video_options=vopts)
        return store.submit(job).public()

    @app.get("/api/jobs", summary="List the jobs, newest first")
    def list_jobs() -> dict:
        return {"jobs": [j.public() for j in store.list()]}

    def _job(job_id: str) -> Job:
        job = store.get(job_id)
        if job is None:
            raise _error(404, f"No job {job_id!r}.")
        return job

    @app.get("/api/jobs/{job_id}", summary="Read a job's state, settings and progress")
    def get_job(job_id: str) -> dict:
        return _job(job_id).public()

    @app.post("/api/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
    def cancel_job(job_id: str) -> dict:
        job = _job(job_id)
        if job.state in TERMINAL:
            raise _error(409, f"The job is already {job.state}.")
        return store.cancel(job).public()

    @app.delete("/api/jobs/{job_id}", status_code=204, summary="Delete a finished job and its files")
    def delete_job(job_id: str) -> Response:
        job = _job(job_id)
        if job.state not in TERMINAL:
            raise _error(409, "The job is still queued or running; cancel it first.")
        store.delete(job)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/result", summary="Download the result (PNG, or MP4 for video jobs)",
             response_class=FileResponse)
    def result(job_id: str, download: bool = False):
        job = _job(job_id)
        if not job.result:
            raise _error(404, f"The job has no result (it is {job.state}).")
        name = f"atelier-{job.method}-{job.id[:8]}{Path(job.result).suffix}"
        return FileResponse(job.dir / job.result, filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    @app.get("/api/jobs/{job_id}/sidecar", summary="The result's JSON sidecar (resolved config, seed, "
             "timings, losses)")
    def sidecar(job_id: str) -> dict:
        job = _job(job_id)
        if not job.result:
            raise _error(404, f"The job has no result (it is {job.state}).")
        return json.loads(atelier.sidecar_path(job.dir / job.result).read_text(encoding="utf-8"))

    @app.get("/api/jobs/{job_id}/inputs/{which}", summary="An input of the job: 'content' or 'style-N'",
             response_class=FileResponse)
    def job_input(job_id: str, which: str):
        job = _job(job_id)
        files = {"content": job.inputs.get("content_file")}
        files.update({f"style-{i}": f for i, f in enumerate(job.inputs.get("style_files", []))})
        name = files.get(which)
        if not name:
            raise _error(404, f"The job has no input {which!r}.")
        return FileResponse(job.dir / name)

    @app.get("/api/jobs/{job_id}/preview", summary="The latest preview of the image forming",
             response_class=FileResponse)
    def preview(job_id: str):
        path = _job(job_id).dir / "preview.jpg"
        if not path.is_file():
            raise _error(404, "No preview yet.")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/events", summary="Progress events (Server-Sent Events)",
             description="A text/event-stream: first `state` (the job), then `stage` (name, index, size), "
             "`progress` (iteration, total, fraction, losses, elapsed, eta, and now and then `preview`, a "
             "small JPEG data URL), `state` at each change, and `end` (the final job) before it closes. "
             "Send `Last-Event-ID` (or `?after=N`) to resume.",
             response_class=StreamingResponse)
    async def events(job_id: str, request: Request, after: int | None = None):
        job = _job(job_id)
        last = request.headers.get("last-event-id", "")
        seq = int(last) + 1 if last.isdigit() else (after + 1 if after is not None else 0)

        async def stream():
            nonlocal seq
            yield _sse("state", job.public())
            idle = 0.0
            while True:
                batch, nxt = store.events_since(job, seq)
                for n, e in batch:
                    yield _sse(e["event"], e["data"], n)
                    if e["event"] == "end":
                        return
                seq = nxt
                if not batch and job.state in TERMINAL:
                    yield _sse("end", job.public())
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.2)
                idle = 0.0 if batch else idle + 0.2
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    guard = Guard(app, token=token, max_body=max_upload_bytes, allowed_hosts=allowed_hosts)
    guard.store = store
    return guard


def _sse(event: str, data: dict, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _store_bundled(item: str | None, role: str, d: Path, index: int = 0) -> tuple[str, str]:
    entry = _bundled().get(item or "")
    if entry is None or entry["role"] != role:
        valid = ", ".join(k for k, v in _bundled().items() if v["role"] == role)
        raise _error(422, f"No bundled {role} image {item!r}; choose {valid}.")
    src = Path(entry["path"])
    name = f"{role}{src.suffix.lower()}" if role == "content" else f"style-{index}{src.suffix.lower()}"
    shutil.copyfile(src, d / name)
    return name, entry["name"]


def _display_name(filename: str | None) -> str:
    """The user's file name for display only: its last component, printable, at most 100 characters."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:100] or "upload"


async def _store_upload(upload: UploadFile, d: Path, stem: str, *, video: bool, max_pixels: int,
                        role: str = "content") -> tuple[str, str]:
    """Copy an upload into the job directory under a server-made name; check that it is an image (or a
    video) and within the pixel limit. Returns (stored file name, the user's name for display)."""
    shown = _display_name(upload.filename)
    tmp = d / f".{stem}.upload"
    await asyncio.to_thread(_copy_to, upload.file, tmp)
    if tmp.stat().st_size == 0:
        tmp.unlink()
        raise _error(422, f"The {role} file '{shown}' is empty.")
    if video:
        ext = _video_ext(tmp)
        declared = (upload.content_type or "").lower()
        if ext is None or not (declared.startswith("video/") or declared in ("", "application/octet-stream")):
            tmp.unlink()
            raise _error(422, f"The {role} file '{shown}' is not a video this server accepts "
                         "(MP4, WebM, MOV, MKV or AVI).")
    else:
        declared = (upload.content_type or "").lower()
        if declared and not declared.startswith("image/") and declared != "application/octet-stream":
            tmp.unlink()
            raise _error(422, f"The {role} file '{shown}' is {declared}, not an image (JPEG, PNG, WebP, TIFF "
                         "or BMP).")
        try:
            loaded = await asyncio.to_thread(atelier.read_image, tmp, max_pixels=max_pixels, long_side=64)
        except atelier.errors.ImageTooLargeError:
            tmp.unlink()
            raise _error(413, f"The {role} image '{shown}' has more than {max_pixels / 1e6:g} million pixels, "
                         "the limit of this server.") from None
        except atelier.errors.AtelierError:
            tmp.unlink()
            raise _error(422, f"The {role} file '{shown}' is not an image atelier can read (JPEG, PNG, WebP, "
                         "TIFF or BMP).") from None
        ext = IMAGE_FORMATS.get(str(loaded.info.get("format", "")).upper())
        if ext is None:
            tmp.unlink()
            raise _error(422, f"The {role} file '{shown}' is a {loaded.info.get('format', 'unknown')} image; "
                         "this server accepts JPEG, PNG, WebP, TIFF or BMP.")
    name = f"{stem}{ext}"
    tmp.replace(d / name)
    return name, shown


def _copy_to(src, path: Path) -> None:
    with open(path, "wb") as f:
        shutil.copyfileobj(src, f, MB)


def _video_ext(path: Path) -> str | None:
    """The stored extension of a video recognised by its first bytes (MP4/MOV, WebM/MKV, AVI), else None."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] == b"ftyp":
        return ".mov" if head[8:10] == b"qt" else ".mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return ".mkv"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    return None
