"""ASGI guard for a service bound to loopback: only local clients, never a web page.

A loopback bind without a token is open to anything that can make the machine's browser send a
request: a page on another site can POST (a "simple" text/plain request needs no CORS preflight)
and, with DNS rebinding, read the answers. So, on loopback, the Host header must name a loopback
address and a browser Origin, if sent, must be a loopback origin (the same rule the MCP SDK
applies to /mcp, extended to every route). Non-loopback binds require a bearer token, and so does
loopback with `server.require_token_on_loopback` (shared machines: any local account reaches 127.0.0.1).

`guard_middleware` is the one place that decides which checks run; daemon/app.py installs it on
the whole service app, so every route (MCP, /status, /enqueue, the viewer's) is behind the same guard.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from reelcore.config import ServerSettings

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _hostname(value: str) -> str | None:
    try:
        return urlsplit(value if "://" in value else f"//{value}").hostname
    except ValueError:
        return None


class LoopbackGuard:
    """Refuse (403) requests whose Host or Origin is not loopback, when the server binds loopback."""

    def __init__(self, app: ASGIApp, bind_host: str) -> None:
        self.app = app
        self.active = bind_host in LOOPBACK_HOSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.active and scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
            host = _hostname(headers.get("host", ""))
            origin = headers.get("origin")
            bad = None
            if host not in LOOPBACK_HOSTS:
                bad = "Host header is not a loopback address"
            elif origin is not None and _hostname(origin) not in LOOPBACK_HOSTS:
                bad = "requests from web pages are not accepted"
            if bad:
                resp = JSONResponse({"error": "forbidden", "detail": bad}, status_code=403)
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`, else 401.

    `public(scope)`, if given, names requests that need no header (the viewer's static page and
    its signed media URLs, which a <video> element fetches without headers: daemon/web.py)."""

    def __init__(self, app: ASGIApp, token: str, public: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.token = token.encode()
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (self.public is not None and self.public(scope)):
            await self.app(scope, receive, send)
            return
        auth = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, cred = auth.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(cred.strip(), self.token):
            await self.app(scope, receive, send)
            return
        reason = "missing bearer token" if not auth else "wrong bearer token"
        resp = JSONResponse({"error": "unauthorized", "detail": reason}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="reelfind"'})
        await resp(scope, receive, send)


def guard_middleware(server: ServerSettings, public: Callable[[Scope], bool] | None = None) -> list[Middleware]:
    """The guard for every route: loopback Host/Origin checks on a loopback bind, then the bearer
    token whenever one is configured (settings validation makes it mandatory off loopback and with
    `require_token_on_loopback`)."""
    middleware = [Middleware(LoopbackGuard, bind_host=server.host)]
    if server.token is not None:
        middleware.append(Middleware(BearerAuth, token=server.token.get_secret_value(), public=public))
    return middleware
