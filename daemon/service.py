"""`reelfind serve`: the one process that owns the index (DESIGN.md, process model).

Threads: the watcher's monitor (stability tracker, root checks, observer restarts) and one
watchdog observer per root; ONE indexing worker that drains the work queue and does every
catalog/store write of the daemon; the APScheduler jobs (periodic reconcile, retries), which
only queue work; uvicorn serving the MCP app plus GET /status and POST /enqueue; and the main
thread, which supervises, talks to systemd (READY/STATUS/WATCHDOG/STOPPING) and handles SIGTERM.

SIGTERM sets the stop event: the indexer commits its current batch and returns, the worker
exits, and the process ends within a few seconds; the next start resumes from the catalog cursor.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reelcore.catalog import FAILED, CatalogError, FileRecord
from reelcore.config import Settings
from reelcore.discovery import root_present
from reelcore.embedder import ModelLoadError
from reelcore.lock import StoreLocked
from reelcore.runtime import Runtime
from reelcore.store import StoreError

from .httpguard import BearerAuth, LoopbackGuard
from .notify import Notifier
from .scheduler import build_scheduler, queue_due_retries, queue_reconciles
from .watcher import Job, WatchedRoot, Watcher, WorkQueue, file_stat

log = logging.getLogger(__name__)

STALL_SECONDS = 600.0  # a worker or monitor silent this long is stuck: stop the watchdog pings
STORE_RETRY_SECONDS = 30.0  # wait before retrying a job that failed because the vector store was down
STOP_TIMEOUT = 20.0  # how long SIGTERM waits for the worker to checkpoint
STATUS_EVERY = 2.0
EXIT_CONFIG = 2  # the model cannot be loaded as configured: systemd does not restart (RestartPreventExitStatus)


@dataclass
class Done:
    """One finished indexing attempt (kept for /status and tests)."""

    path: str
    state: str
    started: float
    finished: float
    frames: int = 0
    reason: str | None = None


class Worker:
    """The single indexing thread: every catalog/store write of the daemon happens here, in order."""

    def __init__(self, rt: Runtime, queue: WorkQueue, watcher: Watcher, stop: threading.Event) -> None:
        self.rt = rt
        self.queue = queue
        self.watcher = watcher
        self.stop = stop
        self.indexer = rt.indexer()
        self.reconciler = rt.reconciler()
        self.done: deque[Done] = deque(maxlen=1000)
        self.job: Job | None = None
        self.heartbeat = time.monotonic()
        self.fatal: BaseException | None = None
        self._empty_roots: set[Path] = set()
        self._thread = threading.Thread(target=self._run, name="reelfind-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def healthy(self) -> bool:
        return self._thread.is_alive() and (self.job is None or time.monotonic() - self.heartbeat < STALL_SECONDS)

    def _beat(self) -> bool:
        self.heartbeat = time.monotonic()
        return self.stop.is_set()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.heartbeat = time.monotonic()
            job = self.queue.get(timeout=0.5)
            if job is None:
                continue
            self.job = job
            try:
                self.handle(job)
            except ModelLoadError as e:
                log.critical("cannot load the model: %s", e)
                self.fatal = e
                return
            except StoreError as e:
                # The store is down (Chroma server restarting?): keep the job, wait, try again.
                log.error("%s; retrying %s in %.0f s", e, job.path, STORE_RETRY_SECONDS)
                self.stop.wait(STORE_RETRY_SECONDS)
                self.queue.put(job)
            except Exception:
                log.exception("error handling %s %s (continuing)", job.kind, job.path)
            finally:
                self.job = None

    def handle(self, job: Job) -> None:
        if job.kind == "reconcile":
            self._reconcile(job)
        elif job.kind == "gone":
            self._gone(job)
        else:
            self._file(job)

    # -- jobs -------------------------------------------------------------------------------
    def _root_ok(self, root: WatchedRoot | None) -> bool:
        """The root is there and not an unmounted share's empty mount point (never delete then)."""
        if root is None:
            return False
        if not self.watcher.root_available(root):
            return False
        try:
            with os.scandir(root.path) as it:
                empty = next(it, None) is None
        except OSError:
            return False
        if empty and self.rt.catalog.in_root(str(root.path)):
            if root.path not in self._empty_roots:
                log.warning("root %s is empty but the catalog lists files there: treating it as an unmounted "
                            "share (files marked unavailable, nothing deleted) until something appears in it",
                            root.path)
                self._empty_roots.add(root.path)
            return False
        self._empty_roots.discard(root.path)
        return True

    def _mark_unavailable(self, root: WatchedRoot) -> None:
        n = self.rt.catalog.set_unavailable(str(root.path), True)
        if n:
            log.warning("root %s is not available: %d file(s) marked unavailable, nothing deleted", root.path, n)

    def _reconcile(self, job: Job) -> None:
        root = job.root
        assert root is not None
        if not self._root_ok(root):
            if root_present(root.path):
                self._mark_unavailable(root)
            else:
                self.reconciler.reconcile(root.root)  # marks unavailable and says so
            return
        scope = Path(job.path)
        t0 = time.monotonic()
        plan = self.reconciler.reconcile(root.root, scope=None if scope == root.path else scope,
                                         should_stop=self._beat)
        if plan.interrupted:
            return
        for rec in plan.todo:
            self._schedule(rec, root)
        if plan.todo or plan.moved or plan.removed or plan.unreadable:
            log.info("reconciled %s in %.1f s: %d to index, %d unchanged, %d moved, %d removed, %d unreadable",
                     job.path, time.monotonic() - t0, len(plan.todo), plan.unchanged, len(plan.moved),
                     len(plan.removed), len(plan.unreadable))
        for path, why in plan.unreadable:
            log.warning("cannot read %s: %s", path, why)

    def _schedule(self, rec: FileRecord, root: WatchedRoot) -> None:
        """A file found by a scan: one that changed recently may still be copying, so it waits to settle."""
        if time.time() - rec.mtime < root.stable_seconds + 1.0:
            self.watcher.tracker.track(rec.path, root)
        else:
            self.queue.put(Job("file", rec.path, root))

    def _gone(self, job: Job) -> None:
        if os.path.exists(job.path):
            return
        catalog = self.rt.catalog
        recs = [r for r in [catalog.get(job.path), *catalog.under(job.path)] if r is not None]
        if not recs:
            return
        if not self._root_ok(job.root):
            if job.root is not None:
                self._mark_unavailable(job.root)
            return
        for rec in recs:
            self.reconciler.file_gone(rec.path)

    def _file(self, job: Job) -> None:
        path, root = job.path, job.root
        if root is None or not os.path.exists(path):
            if job.src and root is not None:
                self.watcher.tracker.vanish(job.src, root)
            return
        if not self._root_ok(root):
            return
        catalog = self.rt.catalog
        if job.src and catalog.get(job.src) is None and catalog.get(path) is None:
            # Renamed from a name we never indexed (say x.mp4.part -> x.mp4): let it settle first.
            self.watcher.tracker.track(path, root)
            return
        if self.watcher.tracker.is_tracking(path) or (job.stat is not None and file_stat(path) != job.stat):
            self.watcher.tracker.track(path, root)  # written to again since it was found stable
            return
        rec = self.reconciler.observe(Path(path), root.path)
        if rec is None and job.retry:
            cur = catalog.get(path)
            rec = cur if cur is not None and cur.state == FAILED else None
        if job.src and catalog.get(job.src) is not None and not os.path.exists(job.src):
            self.watcher.tracker.vanish(job.src, root)  # not matched by content: a delete after all
        if rec is not None:
            self._index(rec)

    def _index(self, rec: FileRecord) -> None:
        started = time.time()
        out = self.indexer.index(rec, self.stop, on_batch=self._beat)
        if out.state == "interrupted":
            return
        self.rt.progress.files_done += 1
        self.done.append(Done(rec.path, out.state, started, time.time(), out.frames, out.reason))


class _Http:
    """uvicorn in a thread on a socket we bind ourselves (a busy port is a clear error, not a thread exit)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, reuse_port=False)
        config = uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=3,
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="reelfind-http", daemon=True)

    def start(self, timeout: float = 60.0) -> bool:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(self.server.started)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.sock.close()


class Service:
    """Start, supervise and stop everything `reelfind serve` runs. `run()` returns the exit code."""

    def __init__(self, settings: Settings, notifier: Notifier | None = None,
                 stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.notifier = notifier or Notifier()
        self.stop_event = stop or threading.Event()
        self.ready = threading.Event()
        self.state = "starting"
        self.started_at = time.time()
        self.rt: Runtime | None = None
        self.queue = WorkQueue()
        self.watcher: Watcher | None = None
        self.worker: Worker | None = None
        self.scheduler: Any = None
        self.http: _Http | None = None
        self.port: int | None = None

    def request_stop(self) -> None:
        self.stop_event.set()

    # -- run --------------------------------------------------------------------------------
    def run(self) -> int:
        self.notifier.status("starting: opening the index")
        try:
            code = self._start()
            if code == 0:
                code = self._supervise()
        except Exception:
            log.exception("reelfind serve failed")
            code = 1
        finally:
            self._shutdown()
        return code

    def _start(self) -> int:
        s = self.settings
        try:
            self.rt = Runtime.open(s, "serve")
        except StoreLocked as e:
            log.error("%s: only one process may own the index; stop it first", e)
            return 1
        except (ModelLoadError, CatalogError) as e:
            log.error("%s", e)
            return EXIT_CONFIG
        except StoreError as e:  # e.g. the Chroma server is not up yet: systemd restarts us
            log.error("%s", e)
            return 1
        rt = self.rt
        roots = [WatchedRoot.from_settings(cfg, r) for cfg, r in zip(s.roots, rt.configured_roots(), strict=True)]
        if not roots:
            log.warning("no roots configured: nothing to watch (set roots in %s)",
                        os.environ.get("REELFIND_CONFIG", "the config file"))
        self.watcher = Watcher(roots, self.queue)
        self.worker = Worker(rt, self.queue, self.watcher, self.stop_event)
        try:
            self.http = _Http(self._app(), s.server.host, s.server.port)
        except OSError as e:
            log.error("cannot listen on %s:%s: %s (is another reelfind serve running?)",
                      s.server.host, s.server.port, e.strerror or e)
            return 1
        self.port = self.http.sock.getsockname()[1]
        if not self.http.start():
            log.error("the HTTP server did not start (see the errors above)")
            return 1
        log.info("serving MCP at http://%s:%s/mcp (status: /status)", s.server.host, self.port)
        self.watcher.start()
        self.worker.start()
        watcher = self.watcher
        self.scheduler = build_scheduler(
            s.daemon,
            lambda: queue_reconciles([st.root for st in watcher.states], self.queue),
            lambda: queue_due_retries(rt.catalog, self.queue, s.daemon.max_attempts, watcher.root_for),
        )
        self.scheduler.start()
        # READY once every root has been looked at: observers running, startup reconciles queued.
        waited = 0.0
        while not self.watcher.started.wait(1.0):
            if self.stop_event.is_set():
                return 0
            waited += 1.0
            if waited % 10 == 0:
                self.notifier.extend_timeout(30)
                self.notifier.status(f"starting: setting up watches ({waited:.0f} s)")
        self.state = "running"
        self.ready.set()
        self.notifier.ready(self.status_line())
        log.info("ready: watching %d root(s), startup reconcile queued", len(roots))
        return 0

    def _supervise(self) -> int:
        assert self.worker is not None and self.watcher is not None
        ping_every = (self.notifier.watchdog_seconds or 0) / 2 or None
        next_ping = next_status = 0.0
        unhealthy_logged = False
        while not self.stop_event.wait(0.25):
            if self.worker.fatal is not None:
                return EXIT_CONFIG
            if not self.worker._thread.is_alive():
                log.critical("the indexing worker thread died: exiting so the service is restarted")
                return 1
            now = time.monotonic()
            healthy = self.worker.healthy() and self.watcher.healthy(STALL_SECONDS)
            if not healthy and not unhealthy_logged:
                log.error("worker or watcher stuck for over %.0f s (or dead): withholding watchdog pings so "
                          "systemd restarts the service", STALL_SECONDS)
            unhealthy_logged = not healthy
            if ping_every and healthy and now >= next_ping:
                self.notifier.watchdog()
                next_ping = now + ping_every
            if now >= next_status:
                self.notifier.status(self.status_line())
                next_status = now + STATUS_EVERY
        return 0

    def _shutdown(self) -> None:
        self.state = "stopping"
        self.notifier.stopping("stopping: checkpointing the current file")
        self.stop_event.set()
        self.queue.close()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.watcher is not None:
            self.watcher.stop()
        worker_done = True
        if self.worker is not None and self.worker._thread.is_alive():
            worker_done = self.worker.join(STOP_TIMEOUT)
            if not worker_done:
                log.error("the indexing worker did not stop within %.0f s; exiting anyway", STOP_TIMEOUT)
        if self.http is not None:
            self.http.stop()
        if self.rt is not None and worker_done:
            self.rt.close()
        self.notifier.close()
        self.state = "stopped"
        log.info("stopped")

    # -- status and hand-over ---------------------------------------------------------------
    def status_line(self) -> str:
        """One line for `systemctl status` (STATUS=)."""
        if self.rt is None or self.watcher is None:
            return self.state
        p = self.rt.progress
        job = self.worker.job if self.worker else None
        if p.current_path:
            dur = f"/{p.current_duration:.0f}" if p.current_duration else ""
            doing = f"indexing {Path(p.current_path).name} {p.current_t:.0f}{dur} s"
        elif job is not None and job.kind == "reconcile":
            doing = f"scanning {job.path}"
        else:
            doing = "idle"
        c = self.rt.catalog.counts()
        parts = [doing, f"{len(self.queue)} queued, {len(self.watcher.tracker)} settling",
                 f"{c['indexed']} indexed, {c['failed']} failed"]
        if c["unavailable"]:
            parts[-1] += f", {c['unavailable']} unavailable"
        offline = [s["path"] for s in self.watcher.snapshot() if not s["present"]]
        if offline:
            parts.append("offline: " + ", ".join(offline))
        return "; ".join(parts)

    def status(self) -> dict[str, Any]:
        """GET /status: live state of the service (JSON-safe)."""
        rt, watcher, worker = self.rt, self.watcher, self.worker
        assert rt is not None and watcher is not None and worker is not None
        p = rt.progress
        current = None
        if p.current_path:
            frac = min(1.0, p.current_t / p.current_duration) if p.current_duration else None
            current = {"path": p.current_path, "t": round(p.current_t, 2), "duration": p.current_duration,
                       "fraction": None if frac is None else round(frac, 3)}
        failed = [{"path": r.path, "reason": r.error, "attempts": r.attempts, "next_retry": r.next_retry}
                  for r in rt.catalog.all(FAILED, limit=100)]
        return {
            "pid": os.getpid(), "state": self.state, "uptime_s": round(time.time() - self.started_at, 1),
            "status": self.status_line(), "model_identity": rt.embedder.identity,
            "store": self.settings.store.url or str(self.settings.chroma_dir), "vectors": rt.store.count(),
            "counts": rt.catalog.counts(),
            "queue": {"queued": len(self.queue), "settling": len(watcher.tracker)},
            "current": current, "progress": p.snapshot(), "failed": failed, "roots": watcher.snapshot(),
            "recent": [asdict(d) for d in list(worker.done)[-20:]],
        }

    def enqueue_paths(self, paths: list[str]) -> dict[str, Any]:
        """POST /enqueue: queue a reconcile of each path (file or folder) inside a configured root."""
        assert self.watcher is not None
        queued: list[str] = []
        rejected: list[dict[str, str]] = []
        for raw in paths:
            if not os.path.isabs(raw):
                rejected.append({"path": raw, "reason": "not an absolute path"})
                continue
            path = os.path.normpath(raw)
            root = self.watcher.root_for(path)
            if root is None:
                rejected.append({"path": path, "reason": "not inside a configured root; add its folder to roots "
                                 "in the service's config (the service only indexes its roots)"})
            elif not os.path.exists(path):
                rejected.append({"path": path, "reason": "no such file or folder"})
            else:
                self.queue.put(Job("reconcile", path, root))
                queued.append(path)
        return {"accepted": len(queued), "paths": queued, "rejected": rejected, "queue_length": len(self.queue)}

    def _app(self) -> Any:
        return build_app(self, _mcp_app(self))


def _mcp_app(svc: Service) -> Any:
    """The MCP streamable-HTTP app (mcp_server.server.http_app), or None if it cannot be imported."""
    try:
        from mcp_server.providers import RuntimeProvider
        from mcp_server.server import http_app
    except ImportError as e:
        log.error("MCP endpoint disabled: cannot import mcp_server (%s); /status and /enqueue still work", e)
        return None
    assert svc.rt is not None
    provider = RuntimeProvider(svc.rt, extra=lambda: {"queued": len(svc.queue),
                                                      "settling": len(svc.watcher.tracker) if svc.watcher else 0})
    return http_app(svc.settings, provider)


def build_app(svc: Service, mcp_app: Any = None) -> Any:
    """GET /status and POST /enqueue (bearer token when server.token is set), the MCP app on the rest."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    token = svc.settings.server.token.get_secret_value() if svc.settings.server.token else None

    async def status(request: Request) -> JSONResponse:
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

    routes: list[Any] = [Route("/status", status, methods=["GET"]), Route("/enqueue", enqueue, methods=["POST"])]
    if mcp_app is not None:
        routes.append(Mount("/", app=mcp_app))

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        router = getattr(mcp_app, "router", None)
        if router is None:
            yield
            return
        async with router.lifespan_context(mcp_app):  # Starlette does not run a mounted app's lifespan
            yield

    middleware = [Middleware(LoopbackGuard, bind_host=svc.settings.server.host)]
    if token is not None:  # one check for every route, the mounted MCP app included
        middleware.append(Middleware(BearerAuth, token=token))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def run_service(settings: Settings) -> int:
    """`reelfind serve`: run until SIGTERM/SIGINT. Exit status 0 on a clean stop, 2 when the model
    cannot be loaded as configured, 1 on any other fatal error (index locked, port busy, ...)."""
    svc = Service(settings)

    def on_signal(signum: int, _frame: Any) -> None:
        if svc.stop_event.is_set():
            log.warning("%s again: still stopping", signal.Signals(signum).name)
        else:
            log.info("%s: stopping (the current batch is committed first)", signal.Signals(signum).name)
        svc.request_stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return svc.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
