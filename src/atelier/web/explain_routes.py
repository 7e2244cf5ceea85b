"""``POST /api/explain``: the web's Explain view, a job that runs :func:`atelier.explain` on an uploaded (or
bundled) painting, optionally with a finished stylisation, and whose result is the sheet. It is followed,
fetched, cancelled and deleted like any job (:mod:`.job_routes`); its JSON (``/api/jobs/ID/sidecar``) is
``explain.json``."""

from __future__ import annotations

import asyncio
import shutil
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

import atelier

from .jobs import Job, JobStore
from .uploads import Limits, http_error, store_bundled, store_upload

EXPLAIN_HELP = (
    "Multipart form: `painting` (an image) or `painting_bundled` (a bundled painting's id); `result` "
    "(optional: a finished stylisation, for each layer's share of its remaining style loss); `size` (long "
    "side, 32 to 1024 and at most the server's size limit; default 256); `iterations` (L-BFGS steps per "
    "reconstruction, default 50); `seed`. The job's result is the sheet (JPEG); its sidecar is explain.json. "
    "Answers 422 for files that are not images and options out of range, 413 for uploads over the limits."
)


def explain_router(store: JobStore, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.post("/api/explain", status_code=201, summary="Explain a painting's style (a sheet)",
                 description=EXPLAIN_HELP)
    async def create_explain(
        painting: Annotated[UploadFile | None, File()] = None,
        painting_bundled: Annotated[str | None, Form()] = None,
        result: Annotated[UploadFile | None, File()] = None,
        size: Annotated[int, Form()] = 256,
        iterations: Annotated[int, Form()] = 50,
        seed: Annotated[int, Form()] = 0,
    ) -> dict:
        painting = painting if painting is not None and (painting.filename or painting.size) else None
        result = result if result is not None and (result.filename or result.size) else None
        if (painting is None) == (painting_bundled is None):
            raise http_error(422, "Give one painting: upload it as 'painting' or pick 'painting_bundled'.")
        if size > limits.max_size:
            raise http_error(422, f"The size may be at most {limits.max_size} pixels on this server, not {size}.")
        job_id, d = store.new_dir()
        try:
            if painting is not None:
                name, shown = await store_upload(painting, d, "style-0", video=False, max_pixels=limits.max_pixels,
                                                 role="painting")
            else:
                name, shown = store_bundled(painting_bundled, "style", d)
            inputs = {"style_files": [name], "style_names": [shown]}
            if result is not None:
                inputs["explain_result_file"], inputs["explain_result_name"] = await store_upload(
                    result, d, "result-input", video=False, max_pixels=limits.max_pixels, role="result")
            res = d / inputs["explain_result_file"] if result is not None else None
            await asyncio.to_thread(atelier.check_explain, d / name, d / "explain", size=size, result=res,
                                    iterations=iterations)
        except atelier.errors.AtelierError as err:
            shutil.rmtree(d, ignore_errors=True)
            raise http_error(422, str(err).replace(str(d) + "/", "")) from None
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        job = Job(id=job_id, dir=d, kind="explain", method="gatys", options={"size": size, "iterations": iterations},
                  seed=seed, inputs=inputs)
        return store.submit(job).public()

    return router
