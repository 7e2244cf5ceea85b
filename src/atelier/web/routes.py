"""The read-only routes: the page and the local API docs, and what the server offers (its version and
limits, the methods and their options, the installed models, the bundled images)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

import atelier

from .jobs import JobStore, video_unavailable_reason
from .schema import method_schema, video_schema
from .uploads import Limits, bundled_images, http_error


def page_router(static: Path) -> APIRouter:
    """``/`` (the page) and ``/docs`` (the API reference, reading /openapi.json), both from ``static``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def index():
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/docs")
    def docs():
        return FileResponse(static / "docs.html", headers={"Cache-Control": "no-cache"})

    return router


def info_router(store: JobStore, limits: Limits) -> APIRouter:
    router = APIRouter()

    @router.get("/api/info", summary="Version, limits and what this server can run")
    def info() -> dict:
        reason = video_unavailable_reason()
        return {"version": atelier.__version__, "video": reason is None, "video_reason": reason,
                "video_options": video_schema(limits.max_frames), "limits": limits.public(),
                "workers": store.workers}

    @router.get("/api/methods", summary="The methods and their options (generated from their configs)")
    def methods() -> list[dict]:
        return [method_schema(m) for m in atelier.list_methods()]

    @router.get("/api/models", summary="Installed feed-forward models (bundled and the user's)")
    def models() -> list[dict]:
        return [{"name": m.name, "method": m.method, "bundled": m.bundled, "style": m.card.get("style"),
                 "error": m.error} for m in atelier.list_models()]

    @router.get("/api/bundled", summary="Bundled images: an example photo and a painting")
    def bundled() -> list[dict]:
        return [{"id": k, "role": v["role"], "name": v["name"], "title": v["title"], "url": f"/api/bundled/{k}"}
                for k, v in bundled_images().items()]

    @router.get("/api/bundled/{item}", summary="A bundled image", response_class=FileResponse)
    def bundled_image(item: str):
        entry = bundled_images().get(item)
        if entry is None:
            raise http_error(404, f"No bundled image {item!r}.")
        return FileResponse(entry["path"])

    return router
