"""The local web app: ``atelier serve`` runs it; ``create_app(jobs_dir)`` builds it (an ASGI app).

Needs the ``web`` extra (``pip install 'atelier[web]'``: fastapi, uvicorn, python-multipart); importing this
package does not (``LOOPBACK_HOSTS``: the Host names a loopback server without a token answers to).
"""

from __future__ import annotations

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def create_app(*args, **kwargs):
    from .app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["LOOPBACK_HOSTS", "create_app"]
