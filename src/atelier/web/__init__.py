"""The local web app: ``atelier serve`` runs it; ``create_app(jobs_dir)`` builds it (an ASGI app).

Needs the ``web`` extra (``pip install 'atelier[web]'``: fastapi, uvicorn, python-multipart).
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    from .app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["create_app"]
