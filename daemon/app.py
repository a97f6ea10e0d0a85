"""The HTTP app of `reelfind serve`: GET /status, POST /enqueue, extra routes, and the MCP app.

One Starlette app serves every route on the service's port, and the HTTP guard
(daemon/httpguard.py: loopback Host/Origin checks, bearer token) is installed here, once, around
all of them: the MCP endpoint, the service routes and any `extra_routes` (the viewer's) alike.
Extra routes come before the MCP app, which is mounted last as the catch-all at "/".

Start-up speed (issue 12): `reelfind serve` answers /status before the MCP SDK and the viewer are
even imported (about 2 s of imports on a small machine). It mounts a `Deferred` app as the
catch-all instead; the service builds the real one (viewer routes + MCP app) in a thread and
`offer()`s it. Until then a request there waits up to `Deferred.wait_s` seconds (without blocking
the event loop), then gets 503 with Retry-After. The guard is the same either way: the deferred
app sits inside this one app, and its `public` check is asked through `Deferred.public`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from reelcore.config import Settings

from .httpguard import guard_middleware

log = logging.getLogger(__name__)

DEFERRED_WAIT = 10.0  # seconds a request for a part still being built waits before its 503
RETRY_AFTER = 2  # ... and the Retry-After it then gets


class ServiceFace(Protocol):
    """What the routes need from the service (daemon.service.Service, or a stand-in in tests)."""

    settings: Settings

    def status(self) -> dict[str, Any]: ...

    def enqueue_paths(self, paths: list[str]) -> dict[str, Any]: ...


class Deferred:
    """An ASGI app that exists only once another thread has built it (see the module docstring).

    `offer(app, lifespan_app, public)` (any thread): `app` serves the requests; `lifespan_app`'s
    router lifespan (the MCP session manager) is entered by `run()`, from the service app's
    lifespan, before the first request is let through (without one, `app` serves at once).
    `fail(why)`: it will never come; requests then get 503 at once with `why`."""

    def __init__(self, wait_s: float = DEFERRED_WAIT) -> None:
        self.wait_s = wait_s
        self._offered: tuple[ASGIApp, Any, Callable[[Scope], bool] | None] | None = None
        self._app: ASGIApp | None = None  # set once its lifespan runs: requests go through
        self._public: Callable[[Scope], bool] | None = None
        self.failed: str | None = None

    @property
    def ready(self) -> bool:
        return self._app is not None

    def offer(self, app: ASGIApp, lifespan_app: Any = None, public: Callable[[Scope], bool] | None = None) -> None:
        if lifespan_app is None:  # nothing to enter first: serve it now (run() is not needed)
            self._app, self._public = app, public
        self._offered = (app, lifespan_app, public)

    def fail(self, why: str) -> None:
        self.failed = why

    def public(self, scope: Scope) -> bool:
        """The built app's `public` check; before that, nothing is public (the token is needed)."""
        check = self._public
        return check is not None and self._app is not None and check(scope)

    async def run(self, stopping: anyio.Event) -> None:
        """Wait for the offer, enter its lifespan, serve until `stopping`; run in a task of the lifespan."""
        while self._offered is None:
            if self.failed is not None or stopping.is_set():
                return
            await anyio.sleep(0.02)  # a plain attribute set by another thread: polling is simplest
        app, lifespan_app, public = self._offered
        router = getattr(lifespan_app, "router", None)
        if router is None:
            self._app, self._public = app, public
            await stopping.wait()
            return
        try:
            async with router.lifespan_context(lifespan_app):
                self._app, self._public = app, public
                await stopping.wait()
                self._app = None
        except Exception as e:  # the rest of the service (/status, indexing) keeps running
            log.exception("the deferred app's lifespan failed")
            self._app, self.failed = None, f"{type(e).__name__}: {e}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deadline = time.monotonic() + self.wait_s
        while self._app is None and self.failed is None and time.monotonic() < deadline:
            await anyio.sleep(0.02)
        app = self._app
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        detail = (f"not available: {self.failed}" if self.failed is not None else
                  f"the service is starting (MCP endpoint and viewer still loading); retry in {RETRY_AFTER} s")
        resp = JSONResponse({"error": "unavailable", "detail": detail}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER)})
        await resp(scope, receive, send)


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
              public: Callable[[Scope], bool] | None = None, deferred: Deferred | None = None) -> Starlette:
    """The service's app: /status, /enqueue, `extra_routes`, then `mcp_app` (mcp_server.server.http_app)
    mounted at "/" (it serves /mcp), all behind one guard. The MCP app's lifespan (its session
    manager) is run from this app's lifespan: Starlette does not run a mounted app's lifespan.
    `public`: requests the bearer token is not needed for (see httpguard.BearerAuth).
    `deferred`: mounted at "/" instead of `mcp_app` (built later; see `Deferred`)."""
    routes = [*_routes(svc), *extra_routes]
    if deferred is not None:
        routes.append(Mount("/", app=deferred))
        late = deferred

        def public_now(scope: Scope) -> bool:
            return (public is not None and public(scope)) or late.public(scope)

        guard_public: Callable[[Scope], bool] | None = public_now
    else:
        if mcp_app is not None:
            routes.append(Mount("/", app=mcp_app))
        guard_public = public

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if deferred is not None:
            stopping = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(deferred.run, stopping)
                try:
                    yield
                finally:
                    stopping.set()
            return
        router = getattr(mcp_app, "router", None)
        if router is None:
            yield
            return
        async with router.lifespan_context(mcp_app):
            yield

    return Starlette(routes=routes, lifespan=lifespan, middleware=guard_middleware(svc.settings.server, guard_public))
