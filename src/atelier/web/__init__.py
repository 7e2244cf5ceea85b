"""The local web app: ``atelier serve`` runs it; ``create_app(jobs_dir)`` builds it (an ASGI app).

Needs the ``web`` extra (``pip install 'atelier[web]'``: fastapi, uvicorn, python-multipart); importing this
package does not (``LOOPBACK_HOSTS``: the Host names a loopback server without a token answers to).
"""

from __future__ import annotations

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_limits(*, port: int, workers: int, max_upload_mb: float, max_pixels: int, max_size: int,
                 max_frames: int) -> None:
    """The server's settings, checked before anything is made (the jobs folder, the app): one sentence
    (OptionError) for a port outside 1-65535, a count that is not positive, a limit that is NaN or infinite."""
    import math

    from ..errors import OptionError

    if not 1 <= port <= 65535:
        raise OptionError(f"--port must be from 1 to 65535, not {port}.")
    for name, value in (("workers", workers), ("max-pixels", max_pixels), ("max-size", max_size),
                        ("max-frames", max_frames), ("max-upload-mb", max_upload_mb)):
        if not math.isfinite(value) or value <= 0:
            raise OptionError(f"--{name} must be a positive, finite number, not {value}.")
    if max_upload_mb * (1 << 20) >= 1 << 63:
        raise OptionError(f"--max-upload-mb must be under {(1 << 43):,}, not {max_upload_mb:g}.")


def check_port(host: str, port: int) -> None:
    """One sentence (OptionError) if ``host:port`` cannot be bound now (in use, or not an address of this
    machine): checked before the server announces its address. Binds and closes at once (SO_REUSEADDR, as
    the server itself), so the server can take it right after."""
    import socket

    from ..errors import OptionError

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise OptionError(f"Cannot serve on {host}: not an address of this machine ({err}).") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as err:
            reason = "it is in use by another program" if err.errno in (98, 48, 10048) else err.strerror
            raise OptionError(f"Cannot serve on {host} port {port}: {reason}; choose another --port.") from None


def create_app(*args, **kwargs):
    from .app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["LOOPBACK_HOSTS", "check_limits", "check_port", "create_app"]
