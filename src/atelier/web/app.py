"""The FastAPI app: the HTTP API (described at /openapi.json, read at /docs) and the one static page.

Everything goes through the public API (``import atelier``). The parts: :mod:`.guard` (the ASGI guard in
front of every route: size limit, token, Host and Origin checks), :mod:`.routes` (the page and the
read-only routes), :mod:`.job_routes` (jobs: create, follow, fetch, cancel, delete), :mod:`.explain_routes` (the Explain view's jobs), :mod:`.jobs` (the job
store and its workers), :mod:`.schema` (the options, generated from the configs) and :mod:`.uploads`
(limits, uploaded and bundled files).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import atelier

from .explain_routes import explain_router
from .guard import LOOPBACK_HOSTS, MB, TOKEN_COOKIE, Guard
from .job_routes import jobs_routers
from .jobs import JobStore
from .routes import info_router, page_router
from .uploads import IMAGE_FORMATS, MAX_STYLES, Limits

__all__ = ["DEFAULT_MAX_FRAMES", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_SIZE", "DEFAULT_MAX_UPLOAD", "IMAGE_FORMATS",
           "LOOPBACK_HOSTS", "MAX_STYLES", "MB", "TOKEN_COOKIE", "Guard", "create_app"]

DEFAULT_MAX_UPLOAD = Limits.max_upload_bytes
DEFAULT_MAX_PIXELS = Limits.max_pixels
DEFAULT_MAX_SIZE = Limits.max_size
DEFAULT_MAX_FRAMES = Limits.max_frames
DESCRIPTION = ("Neural style transfer jobs: create one (content, style or model, method, options), follow its "
               "progress events, fetch the result and its sidecar, cancel, list.")


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
    cluster=None,
) -> Guard:
    """The web app over ``jobs_dir`` (an ASGI app: the FastAPI app as ``.app``, the jobs as ``.store``).
    ``allowed_hosts``: Host names answered (None: any; ``atelier serve`` passes the loopback names when it
    runs without a token). ``cluster`` (``atelier.connect_cluster(ADDRESS)``): image jobs run on that Dask cluster.
    Workers start with the app's lifespan."""
    store = JobStore(Path(jobs_dir), workers=workers, cluster=cluster)
    limits = Limits(max_upload_bytes, max_pixels, max_size, max_frames)
    app = FastAPI(title="atelier", version=atelier.__version__, description=DESCRIPTION,
                  lifespan=_lifespan(store),
                  docs_url=None, redoc_url=None)  # their default pages load scripts from a CDN; /docs is local
    app.state.store = store
    static = Path(str(resources.files("atelier.web") / "static"))
    app.mount("/static", StaticFiles(directory=static), name="static")
    for router in [page_router(static), info_router(store, limits), *jobs_routers(store, limits), explain_router(store, limits)]:
        app.include_router(router)
    guard = Guard(app, token=token, max_body=limits.max_upload_bytes, allowed_hosts=allowed_hosts)
    guard.store = store
    return guard


def _lifespan(store: JobStore):
    @asynccontextmanager
    async def lifespan(app):
        store.start()
        try:
            yield
        finally:
            store.stop()

    return lifespan
