"""The job routes: create a job (``POST /api/jobs``), list, read, cancel and delete jobs, and a job's files
(result, sidecar, inputs, preview) and progress events (Server-Sent Events).

Creating a job checks the run once, with ``atelier.prepare`` (through :mod:`.schema`); what is checked here
is only what a web server adds: the upload limits, ``MAX_STYLES``, the bundled images' ids and the files
themselves (:mod:`.uploads`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse

import atelier

from .jobs import TERMINAL, Job, JobStore, video_unavailable_reason
from .schema import OptionsError, prepare_options, resolve_texture_options, resolve_video_options
from .uploads import MAX_STYLES, Limits, http_error, store_bundled, store_upload

CREATE_HELP = (
    "Multipart form: `content` (an image, or a video for kind=video) or `content_bundled`; `style` (one or "
    "more images) or `style_bundled` for methods that need a style; `method`; `options` (a JSON object of "
    "the method's options, see /api/methods); `seed`; `kind` (image, video or texture), `video_options` (see "
    "/api/info); `mask` (one image per style, white where that style applies; one for methods that fill a "
    "hole, white where to fill); `style_mask` (one image per style, over that painting: white where its style is "
    "taken from; methods whose capabilities say style_masks); `coarse_style` and `fine_style` (instead of `style`: coarse structure from one "
    "painting, fine strokes from another, for methods whose capabilities say scale_mix) and `color_from` (an "
    "image whose colours the result takes); and, for a texture from the one `style` image (its sample, no content), `texture_options` "
    "({\"width\", \"height\", \"tileable\"}); `metadata` (default true; false embeds no provenance record in the "
    "result). Answers 413 for uploads over the size or pixel limit, 422 for files that are not images "
    "(or videos whose first frame decodes), for options that do not fit and for a `seed` outside 0 to 2**64 - 1."
)
EVENTS_HELP = (
    "A text/event-stream: first `state` (the job), then `stage` (name, index, size), `progress` (iteration, "
    "total, fraction, losses, elapsed, eta, and now and then `preview`, a small JPEG data URL), `state` at "
    "each change, and `end` (the final job) before it closes. Send `Last-Event-ID` (or `?after=N`) to resume."
)
JSON_EXAMPLE = "The options must be a JSON object, e.g. {\"size\": 256}."


def jobs_routers(store: JobStore, limits: Limits) -> list[APIRouter]:
    return [create_router(store, limits), job_router(store), job_files_router(store)]


def _find(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise http_error(404, f"No job {job_id!r}.")
    return job


# ------------------------------------------------------------------------------------------ create


def create_router(store: JobStore, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.post("/api/jobs", status_code=201, summary="Create a job", description=CREATE_HELP)
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
        texture_options: Annotated[str, Form()] = "{}",
        mask: Annotated[list[UploadFile] | None, File()] = None,
        metadata: Annotated[bool, Form()] = True,
        coarse_style: Annotated[UploadFile | None, File()] = None,
        fine_style: Annotated[UploadFile | None, File()] = None,
        color_from: Annotated[UploadFile | None, File()] = None,
        style_mask: Annotated[list[UploadFile] | None, File()] = None,
    ) -> dict:
        styles = [s for s in (style or []) if s.filename or s.size]
        masks = [m for m in (mask or []) if m.filename or m.size]
        style_masks = [m for m in (style_mask or []) if m.filename or m.size]
        coarse_style, fine_style, color_from = (u if u is not None and (u.filename or u.size) else None
                                                for u in (coarse_style, fine_style, color_from))
        mix = _check_mix(kind, styles, style_bundled, coarse_style, fine_style, color_from)
        styles = [coarse_style, fine_style] if mix["scale_mix"] else styles  # stored as style-0, style-1
        n_styles = len(styles) + (1 if style_bundled else 0)
        _check_request(kind, content is not None or bool(content_bundled), n_styles)
        if (masks or style_masks) and kind != "image":
            raise http_error(422, f"Masks go with photo jobs here, not with a {kind} job.")
        # In a thread: the first check imports torch and model headers are read from disk.
        opts, prepared, vopts, topts = await asyncio.to_thread(
            _check_options, method, options, video_options, texture_options, kind, n_styles, limits,
            len(masks) if masks else None, seed, {**mix, "n_style_masks": len(style_masks) if style_masks else None})
        job_id, d = store.new_dir()
        try:
            inputs = await _store_inputs(d, content, content_bundled, styles, style_bundled,
                                         video=kind == "video", max_pixels=limits.max_pixels)
            inputs["scale_mix"] = mix["scale_mix"]  # style-0 is the coarse painting, style-1 the fine one
            if color_from is not None:
                inputs["color_from_file"], inputs["color_from_name"] = await store_upload(
                    color_from, d, "color-from", video=False, max_pixels=limits.max_pixels, role="colour")
            stored = [await store_upload(m, d, f"mask-{i}", video=False, max_pixels=limits.max_pixels, role="mask")
                      for i, m in enumerate(masks)]
            if stored:
                inputs["mask_files"], inputs["mask_names"] = [f for f, _ in stored], [n for _, n in stored]
            stored = [await store_upload(m, d, f"style-mask-{i}", video=False, max_pixels=limits.max_pixels,
                                         role="style mask") for i, m in enumerate(style_masks)]
            if stored:
                inputs["style_mask_files"] = [f for f, _ in stored]
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        job = Job(id=job_id, dir=d, kind=kind, method=method, options=opts, seed=seed, inputs=inputs,
                  video_options=vopts, texture_options=topts, prepared=prepared, metadata=metadata)
        return store.submit(job).public()

    return router


def _check_request(kind: str, has_content: bool, n_styles: int) -> None:
    """What the web adds to the library's checks: the job kind, the video extra, a content (a sample for
    textures), MAX_STYLES."""
    if kind not in ("image", "video", "texture"):
        raise http_error(422, f"The job kind must be 'image', 'video' or 'texture', not {kind!r}.")
    if kind == "video" and (reason := video_unavailable_reason()):
        raise http_error(422, reason)
    if kind == "texture":
        if has_content or n_styles != 1:
            raise http_error(422, "A texture job takes one sample image as 'style' (or 'style_bundled') and no "
                             "content.")
        return
    if not has_content:
        raise http_error(422, "Give a content image: upload one as 'content' or pick 'content_bundled'.")
    if n_styles > MAX_STYLES:
        raise http_error(422, f"At most {MAX_STYLES} style images are accepted, not {n_styles}.")


def _check_mix(kind: str, styles: list, style_bundled, coarse, fine, color_from) -> dict[str, bool]:
    """The mixing uploads (Gatys et al. 2017 §3, §5): coarse and fine paintings together, instead of
    `style`; the library's own sentences (``atelier.mix_inputs``); photo jobs only."""
    if (coarse or fine or color_from) and kind != "image":
        raise http_error(422, f"coarse_style, fine_style and color_from go with photo jobs, not with a {kind} job.")
    try:
        _, weights = atelier.mix_inputs([*styles, *([style_bundled] if style_bundled else [])] or None, coarse, fine)
    except atelier.errors.OptionError as err:
        raise http_error(422, str(err)) from None
    return {"scale_mix": weights is not None, "color_from": color_from is not None}


def _check_options(method: str, options: str, video_options: str, texture_options: str, kind: str,
                   n_styles: int, limits: Limits, n_masks: int | None = None,
                   seed: int = 0, mix: dict | None = None) -> tuple[dict, Any, dict, dict]:
    """The method's options and the checked run (atelier.prepare), and the video options (video jobs) or
    the texture's size (texture jobs)."""
    video = kind == "video"
    try:
        topts = resolve_texture_options(json.loads(texture_options or "{}"), limits.max_size) \
            if kind == "texture" else {}
        opts, prepared = prepare_options(method, json.loads(options or "{}"), n_styles=n_styles,
                                         max_size=limits.max_size, video=video, texture=topts or None,
                                         n_masks=n_masks, seed=seed, **(mix or {}))
        vopts = resolve_video_options(json.loads(video_options or "{}"), limits.max_frames, n_styles,
                                      method) if video else {}
    except json.JSONDecodeError:
        raise http_error(422, JSON_EXAMPLE) from None
    except OptionsError as err:
        raise http_error(422, str(err)) from None
    return opts, prepared, vopts, topts


async def _store_inputs(d: Path, content: UploadFile | None, content_bundled: str | None,
                        styles: list[UploadFile], style_bundled: str | None, *, video: bool,
                        max_pixels: int) -> dict[str, Any]:
    """The job's input files under server-made names, and the user's names (display only)."""
    inputs: dict[str, Any] = {}
    if content is not None:
        inputs["content_file"], inputs["content_name"] = await store_upload(
            content, d, "content", video=video, max_pixels=max_pixels)
    elif content_bundled is not None:  # neither for a texture job: its sample is the one style
        inputs["content_file"], inputs["content_name"] = store_bundled(content_bundled, "content", d)
    stored = [await store_upload(s, d, f"style-{i}", video=False, max_pixels=max_pixels, role="style")
              for i, s in enumerate(styles)]
    if style_bundled:
        stored.append(store_bundled(style_bundled, "style", d, index=len(stored)))
    inputs["style_files"], inputs["style_names"] = [f for f, _ in stored], [n for _, n in stored]
    return inputs


# ---------------------------------------------------------------------- list, read, cancel, delete


def job_router(store: JobStore) -> APIRouter:
    router = APIRouter()

    @router.get("/api/jobs", summary="List the jobs, newest first")
    def list_jobs() -> dict:
        return {"jobs": [j.public() for j in store.list()]}

    @router.get("/api/jobs/{job_id}", summary="Read a job's state, settings and progress")
    def get_job(job_id: str) -> dict:
        return _find(store, job_id).public()

    @router.post("/api/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
    def cancel_job(job_id: str) -> dict:
        job = _find(store, job_id)
        if job.state in TERMINAL:
            raise http_error(409, f"The job is already {job.state}.")
        return store.cancel(job).public()

    @router.delete("/api/jobs/{job_id}", status_code=204, summary="Delete a finished job and its files")
    def delete_job(job_id: str) -> Response:
        job = _find(store, job_id)
        if job.state not in TERMINAL:
            raise http_error(409, "The job is still queued or running; cancel it first.")
        store.delete(job)
        return Response(status_code=204)

    return router


# --------------------------------------------------------------------------- a job's files, events


def _finished(store: JobStore, job_id: str) -> Job:
    job = _find(store, job_id)
    if not job.result:
        raise http_error(404, f"The job has no result (it is {job.state}).")
    return job


def job_files_router(store: JobStore) -> APIRouter:
    router = APIRouter()

    @router.get("/api/jobs/{job_id}/result", summary="Download the result (PNG, or MP4 for video jobs)",
                response_class=FileResponse)
    def result(job_id: str, download: bool = False):
        job = _finished(store, job_id)
        name = f"atelier-{job.method}-{job.id[:8]}{Path(job.result).suffix}"
        return FileResponse(job.dir / job.result, filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    @router.get("/api/jobs/{job_id}/sidecar",
                summary="The result's JSON sidecar (resolved config, seed, timings, losses)")
    def sidecar(job_id: str) -> dict:
        job = _finished(store, job_id)
        path = job.dir / "explain" / "explain.json" if job.kind == "explain" else atelier.sidecar_path(job.dir / job.result)
        return without_paths(json.loads(path.read_text(encoding="utf-8")))

    @router.get("/api/jobs/{job_id}/inputs/{which}", summary="An input of the job: 'content', 'style-N', 'mask-N', "
                "'style-mask-N' or 'color-from'",
                response_class=FileResponse)
    def job_input(job_id: str, which: str):
        job = _find(store, job_id)
        files = {"content": job.inputs.get("content_file")}
        files.update({f"style-{i}": f for i, f in enumerate(job.inputs.get("style_files", []))})
        files.update({f"mask-{i}": f for i, f in enumerate(job.inputs.get("mask_files", []))})
        files.update({f"style-mask-{i}": f for i, f in enumerate(job.inputs.get("style_mask_files", []))})
        files["color-from"] = job.inputs.get("color_from_file")
        if not files.get(which):
            raise http_error(404, f"The job has no input {which!r}.")
        return FileResponse(job.dir / files[which])

    @router.get("/api/jobs/{job_id}/regions", summary="The regions --semantic found: photo and painting side by "
                "side, paired regions in one colour", response_class=FileResponse)
    def regions(job_id: str):
        job = _finished(store, job_id)
        if not job.inputs.get("regions_file"):
            raise http_error(404, "The job found no regions (its semantic option is off).")
        return FileResponse(job.dir / job.inputs["regions_file"])

    @router.get("/api/jobs/{job_id}/preview", summary="The latest preview of the image forming",
                response_class=FileResponse)
    def preview(job_id: str):
        path = _find(store, job_id).dir / "preview.jpg"
        if not path.is_file():
            raise http_error(404, "No preview yet.")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @router.get("/api/jobs/{job_id}/events", summary="Progress events (Server-Sent Events)",
                description=EVENTS_HELP, response_class=StreamingResponse)
    async def events(job_id: str, request: Request, after: int | None = None):
        job = _find(store, job_id)
        last = request.headers.get("last-event-id", "")
        seq = int(last) + 1 if last.isdigit() else (after + 1 if after is not None else 0)
        return StreamingResponse(_event_stream(store, job, request, seq), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router


async def _event_stream(store: JobStore, job: Job, request: Request, seq: int):
    """The state snapshot, then the job's events from ``seq`` on, until ``end`` (a comment line every 15 s
    without events keeps proxies from closing the stream)."""
    yield sse("state", job.public())
    idle = 0.0
    while True:
        batch, seq = store.events_since(job, seq)
        for n, e in batch:
            yield sse(e["event"], e["data"], n)
            if e["event"] == "end":
                return
        if not batch and job.state in TERMINAL:
            yield sse("end", job.public())
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.2)
        idle = 0.0 if batch else idle + 0.2
        if idle >= 15:
            idle = 0.0
            yield ": keep-alive\n\n"


def without_paths(value: Any) -> Any:
    """The sidecar as a client sees it: every absolute path (the job's folder, the server's models) reduced
    to its file name, so the server never tells a client where its files are."""
    if isinstance(value, dict):
        return {k: without_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_paths(v) for v in value]
    if isinstance(value, str) and (value.startswith(("/", "~")) or (len(value) > 2 and value[1:3] == ":\\")):
        return atelier.provenance.basename(value)
    return value


def sse(event: str, data: dict, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
