"""The HTTP app of `reelfind serve`: GET /status, POST /enqueue, extra routes, and the MCP app.

One Starlette app serves every route on the service's port, and the HTTP guard
(daemon/httpguard.py: loopback Host/Origin checks, bearer token) is installed here, once, around
all of them: the MCP endpoint, the service routes and any `extra_routes` (the viewer's) alike.
Extra routes come before the MCP app, which is mounted last as the catch-all at "/".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Scope

from reelcore.config import Settings

from .httpguard import guard_middleware


class ServiceFace(Protocol):
    """What the routes need from the service (daemon.service.Service, or a stand-in in tests)."""

    settings: Settings

    def status(self) -> dict[str, Any]: ...

    def enqueue_paths(self, paths: list[str]) -> dict[str, Any]: ...


def _routes(svc: ServiceFace) -> list[BaseRoute]:
    async def status(_: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(svc.status))

    async def enqueue(request: Request) -> JSONResponse:
        body = None
        # JSON only: a cross-site form or text/plain POST (no CORS preflight) is never taken.
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
        paths = body.get("paths") if isinstance(body, dict) else None
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            return JSONResponse({"error": "bad request", "detail": 'expected JSON {"paths": ["/abs/path", ...]}'},
                                status_code=400)
        out = await run_in_threadpool(svc.enqueue_paths, paths)
        return JSONResponse(out, status_code=202 if out["accepted"] else 422)

    return [Route("/status", status, methods=["GET"]), Route("/enqueue", enqueue, methods=["POST"])]


def build_app(svc: ServiceFace, mcp_app: Any = None, extra_routes: Sequence[BaseRoute] = (),
              public: Callable[[Scope], bool] | None = None) -> Starlette:
    """The service's app: /status, /enqueue, `extra_routes`, then `mcp_app` (mcp_server.server.http_app)
    mounted at "/" (it serves /mcp), all behind one guard. The MCP app's lifespan (its session
    manager) is run from this app's lifespan: Starlette does not run a mounted app's lifespan.
    `public`: requests the bearer token is not needed for (see httpguard.BearerAuth)."""
    routes = [*_routes(svc), *extra_routes]
    if mcp_app is not None:
        routes.append(Mount("/", app=mcp_app))

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        router = getattr(mcp_app, "router", None)
        if router is None:
            yield
            return
        async with router.lifespan_context(mcp_app):
            yield

    return Starlette(routes=routes, lifespan=lifespan, middleware=guard_middleware(svc.settings.server, public))
