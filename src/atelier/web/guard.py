"""The guard in front of the web app (ASGI middleware): it enforces, before any route runs,

* the Host header on a loopback server without a token (421), so a web site cannot reach it by DNS
  rebinding;
* the token when one is set (401), from the ``Authorization`` header, the cookie, or ``?token=`` (which
  sets the cookie, so the page's later requests carry it);
* same-origin for requests that change something (403), so a web site cannot post jobs to it from the
  user's browser;
* the request-size limit (413), from Content-Length or, for a chunked body, counted as it arrives.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlsplit

from fastapi.responses import JSONResponse

from . import LOOPBACK_HOSTS

__all__ = ["LOOPBACK_HOSTS", "MB", "TOKEN_COOKIE", "BodyLimit", "Guard"]

MB = 1 << 20
TOKEN_COOKIE = "atelier_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_NEEDED = ("This server needs its token: open the address printed by 'atelier serve' (it ends in "
                "?token=...), or send the header 'Authorization: Bearer TOKEN'.")
OTHER_SITE = "Requests from other web sites are refused."

Refusal = tuple[int, str]  # (status, one sentence)


class Guard:
    """ASGI middleware: Host, token, Origin and size checks (see the module docstring)."""

    def __init__(self, app, *, token: str | None, max_body: int, allowed_hosts: set[str] | None):
        self.app, self.token, self.max_body, self.allowed_hosts = app, token, max_body, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token_ok, set_cookie = self._token(scope, headers)
        refusal = (self._host(headers) or (None if token_ok else (401, TOKEN_NEEDED))
                   or _origin(scope, headers) or self._length(headers))
        if refusal:
            return await deny(scope, receive, send, *refusal)
        body = BodyLimit(scope, receive, send, self.max_body, self._cookie() if set_cookie else None)
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            if not body.too_large:  # past the limit the app saw a disconnect; the 413 went out already
                raise

    def _host(self, headers: dict) -> Refusal | None:
        host = headers.get("host", "")
        if self.allowed_hosts is None or hostname(host) in self.allowed_hosts:
            return None
        return 421, f"This server answers only to {', '.join(sorted(self.allowed_hosts))}, not to the host {host!r}."

    def _token(self, scope, headers: dict) -> tuple[bool, bool]:
        """(the request carries the token, the answer should set the token cookie)."""
        if self.token is None:
            return True, False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = [headers.get("authorization", "").removeprefix("Bearer ").strip(),
                 cookie(headers.get("cookie", ""), TOKEN_COOKIE), (query.get("token") or [""])[0]]
        ok = [bool(g) and hmac.compare_digest(g.encode(), self.token.encode()) for g in given]
        return any(ok), ok[2] and not ok[1]

    def _length(self, headers: dict) -> Refusal | None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return 413, too_large_message(self.max_body)
        return None

    def _cookie(self) -> tuple[bytes, bytes]:
        return b"set-cookie", f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode("latin-1")


def _origin(scope, headers: dict) -> Refusal | None:
    if scope["method"] in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin == "null" or (origin and urlsplit(origin).netloc.lower() != headers.get("host", "").lower()):
        return 403, OTHER_SITE
    return None


class BodyLimit:
    """The app's receive/send for one request: counts the body as it arrives (a chunked body has no
    Content-Length); past the limit the client gets 413 at once and the app sees a disconnect (so it stores
    nothing). ``header`` is added to the response (the token cookie)."""

    def __init__(self, scope, receive, send, limit: int, header: tuple[bytes, bytes] | None):
        self.scope, self._receive, self._send, self.limit, self.header = scope, receive, send, limit, header
        self.seen, self.too_large, self.started = 0, False, False

    async def send(self, message):
        if self.too_large:  # the 413 went out already; what the app answers is dropped
            return
        if message["type"] == "http.response.start":
            self.started = True
            if self.header:
                message = {**message, "headers": [*message.get("headers", []), self.header]}
        await self._send(message)

    async def receive(self):
        if self.too_large:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                if not self.started:
                    await deny(self.scope, self._receive, self._send, 413, too_large_message(self.limit))
                self.too_large = True
                return {"type": "http.disconnect"}
        return message


def too_large_message(limit: int) -> str:
    amount = f"{limit / MB:.0f} MB" if limit >= MB else f"{limit / 1000:.0f} kB"
    return f"The upload is too large: this server accepts at most {amount} per request."


def hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:7860
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return ""


async def deny(scope, receive, send, status: int, message: str) -> None:
    await JSONResponse({"detail": message}, status)(scope, receive, send)
