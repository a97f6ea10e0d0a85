"""`reelfind serve`: start, supervise and stop the one process that owns the index.

See docs/architecture.md (process model). Threads: the watcher's monitor and one watchdog
observer per root (daemon/watcher.py); ONE indexing worker (daemon/worker.py) that drains the
work queue and does every catalog/store write; the APScheduler jobs (daemon/scheduler.py), which
only queue work; uvicorn (daemon/http_server.py) serving the app of daemon/app.py; and the main
thread, which supervises, talks to systemd (READY/STATUS/WATCHDOG/STOPPING) and handles SIGTERM.

Start-up order (issue 12: /status answers within about a second of the process start): lock +
catalog (Runtime.open: no model, no Chroma), then HTTP with /status and /enqueue; the MCP app and
the viewer (the MCP SDK alone is over a second of imports) are imported and built in a thread and
mounted behind the same guard when ready (daemon.app.Deferred: until then a request there waits a
few seconds, then gets 503 + Retry-After); once that front is built (so the imports do not share two
cores), the watcher, the scheduler and the worker (which loads the model first) start, and READY=1
follows once every root's startup scan is queued (README, docs/architecture.md).
This module imports only what the first answer needs; the rest is imported where it is used.

SIGTERM sets the stop event: the indexer commits its current batch and returns, the worker
exits, and the process ends within a few seconds; the next start resumes from the catalog cursor.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.routing import Mount

from reelcore.channels.visual.embedder import ModelLoadError
from reelcore.config import Settings
from reelcore.lock import StoreLocked
from reelcore.runtime import Runtime
from reelcore.status import Live, build_status, status_line
from reelcore.storage.catalog import CatalogError
from reelcore.storage.store import StoreError

from .app import Deferred, build_app
from .http_server import HttpServer
from .jobs import Job, WorkQueue
from .notify import Notifier
from .signals import opened, restore, stop_on_signals
from .worker import STALL_SECONDS, Done, Worker

if TYPE_CHECKING:
    from .watcher import Watcher

log = logging.getLogger(__name__)

STOP_TIMEOUT = 20.0  # how long SIGTERM waits for the worker to checkpoint
LOADING_STOP_TIMEOUT = 1.0  # ... and for a model load (no work to save) before giving up on it
STATUS_EVERY = 2.0
# An event loop that runs none of the supervisor's beats for this long is stuck (a handler blocked
# it, e.g. on a hung share): watchdog pings stop, as for a stuck indexer.
HTTP_STALL_SECONDS = 60.0
FRONT_WAIT = 30.0  # the watcher and worker wait at most this long for the MCP app and viewer to be built
EXIT_CONFIG = 2  # the model cannot be loaded as configured: systemd does not restart (RestartPreventExitStatus)

__all__ = ["EXIT_CONFIG", "Done", "Service", "build_app", "run_service"]


def _wait_idle(timeout: float) -> bool:
    """mcp_server.providers.wait_idle: the MCP side's model/store threads (warm-up, tool calls)."""
    from mcp_server.providers import wait_idle  # function-level: imported only if the MCP app was built

    return wait_idle(timeout)


class Service:
    """Start, supervise and stop everything `reelfind serve` runs. `run()` returns the exit code."""

    def __init__(self, settings: Settings, notifier: Notifier | None = None,
                 stop: threading.Event | None = None, extra_routes: list[Any] | None = None,
                 abandon_loading: bool = False) -> None:
        self.settings = settings
        # True when the process ends right after run() (the CLI leaves with os._exit): a model
        # load still running at SIGTERM is then not waited for (see _shutdown).
        self.abandon_loading = abandon_loading
        self.notifier = notifier or Notifier()
        self.stop_event = stop or threading.Event()
        self.ready = threading.Event()
        self.state = "starting"
        self.started_at = time.time()
        self.extra_routes = list(extra_routes or [])  # more Starlette routes (the viewer), same guard
        self.rt: Runtime | None = None
        self.queue = WorkQueue()
        self.watcher: Watcher | None = None
        self.worker: Worker | None = None
        self.scheduler: Any = None
        self.http: HttpServer | None = None
        self.port: int | None = None
        self.front = Deferred()  # the MCP app and the viewer, built in a thread (daemon.app)
        self._front_thread: threading.Thread | None = None
        self._front_done = threading.Event()
        self.provider: Any = None  # the MCP side's RuntimeProvider, once built (shared with the viewer)

    def request_stop(self) -> None:
        self.stop_event.set()

    # -- run --------------------------------------------------------------------------------
    def run(self) -> int:
        self.notifier.status("starting: opening the index")
        try:
            code = self._start()
            if code == 0 and not self.stop_event.is_set():
                code = self._supervise()
        except Exception:
            log.exception("reelfind serve failed")
            code = 1
        finally:
            self._shutdown()
        return code

    def _start(self) -> int:
        """Open, then start each part; a stop request (SIGTERM) at any step returns 0 at once."""
        s = self.settings
        if self.stop_event.is_set():
            return 0
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
        opened()  # from here a SIGTERM stops in order (daemon.signals)
        if self.stop_event.is_set():
            return 0
        try:
            self.http = HttpServer(build_app(self, extra_routes=self.extra_routes, deferred=self.front),
                                   s.server.host, s.server.port)
        except OSError as e:
            log.error("cannot listen on %s:%s: %s (is another reelfind serve running?)",
                      s.server.host, s.server.port, e.strerror or e)
            return 1
        self.port = self.http.port
        if not self.http.start():
            log.error("the HTTP server did not start (see the errors above)")
            return 1
        log.info("serving at http://%s:%s (status: /status; MCP at /mcp once loaded)", s.server.host, self.port)
        self._front_thread = threading.Thread(target=self._build_front, name="reelfind-front", daemon=True)
        self._front_thread.start()
        # The MCP app's imports first (on two cores, starting the watcher and the worker's model
        # load beside them only slows them down); a failed or slow build does not hold the rest.
        deadline = time.monotonic() + FRONT_WAIT
        while not self._front_done.wait(0.05):
            if self.stop_event.is_set():
                return 0
            if time.monotonic() > deadline:
                log.warning("the MCP app is not built after %.0f s; starting the indexer anyway", FRONT_WAIT)
                break
        if self.stop_event.is_set():
            return 0
        # Function-level imports (start-up speed): watchdog and APScheduler are not needed for /status.
        from .scheduler import build_scheduler, queue_due_retries, queue_reconciles
        from .watcher import WatchedRoot, Watcher

        roots = [WatchedRoot.from_settings(cfg, r) for cfg, r in zip(s.roots, rt.configured_roots(), strict=True)]
        if not roots:
            log.warning("no roots configured: nothing to watch (set roots in %s)",
                        os.environ.get("REELFIND_CONFIG", "the config file"))
        self.watcher = watcher = Watcher(roots, self.queue)
        self.worker = Worker(rt, self.queue, watcher, self.stop_event)
        watcher.start()
        self.scheduler = build_scheduler(
            s.daemon,
            lambda: queue_reconciles([st.root for st in watcher.states], self.queue),
            lambda: queue_due_retries(rt.catalog, self.queue, s.daemon.max_attempts, watcher.root_for),
        )
        self.scheduler.start()
        self.worker.start()  # loads the model first (retrying a failed download), then takes jobs
        # READY once every root has been looked at: observers running, startup reconciles queued.
        waited = 0.0
        while not watcher.started.wait(1.0):
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

    def _build_front(self) -> None:
        """Thread: import and build the MCP app, mount it (Deferred), then the viewer's routes the
        same way (the viewer's imports are half a second more that /mcp need not wait for)."""
        viewer = Deferred()
        offered = False
        try:
            mcp_app = _mcp_app(self)
            self.front.offer(Starlette(routes=[*mcp_app.routes, Mount("/", app=viewer)]), mcp_app, viewer.public)
            offered = True
            log.info("MCP endpoint loaded")
            viewer.offer(*_viewer_app(self))
        except Exception as e:
            log.exception("cannot build the MCP app / viewer")
            why = f"{type(e).__name__}: {e} (see the service log)"
            viewer.fail(why)
            if not offered:
                self.front.fail(why)
        finally:
            self._front_done.set()

    def _supervise(self) -> int:
        assert self.worker is not None and self.watcher is not None
        ping_every = (self.notifier.watchdog_seconds or 0) / 2 or None
        next_ping = next_status = 0.0
        unhealthy_logged = False
        while not self.stop_event.wait(0.25):
            if self.worker.fatal is not None:
                return EXIT_CONFIG
            if not self.worker.alive():
                log.critical("the indexing worker thread died: exiting so the service is restarted")
                return 1
            now = time.monotonic()
            if self.http is not None:
                self.http.beat()
            http_ok = self.http is None or self.http.answering(HTTP_STALL_SECONDS)
            healthy = self.worker.healthy() and self.watcher.healthy(STALL_SECONDS) and http_ok
            if not healthy and not unhealthy_logged:
                what = (f"the HTTP event loop has not run for {HTTP_STALL_SECONDS:.0f} s" if not http_ok else
                        f"worker or watcher stuck for over {STALL_SECONDS:.0f} s (or dead)")
                log.error("%s: withholding watchdog pings so systemd restarts the service", what)
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
        # While the model is still loading there is nothing to checkpoint, and a load cannot be
        # interrupted (imports, weights): do not wait for it. The CLI then leaves with os._exit,
        # which a native thread still running cannot turn into an abort.
        loading = self.abandon_loading and self.rt is not None and not self.rt.embedder.loaded
        timeout = LOADING_STOP_TIMEOUT if loading else STOP_TIMEOUT
        worker_done = True
        if self.worker is not None and self.worker.alive():
            worker_done = self.worker.join(timeout)
            if not worker_done and not loading:
                log.error("the indexing worker did not stop within %.0f s; exiting anyway", timeout)
        if self.http is not None:
            self.http.stop()
        if self._front_thread is not None:  # still importing the MCP app: let it finish (no work to save)
            self._front_thread.join(timeout)
        if "mcp_server.providers" in sys.modules and not _wait_idle(timeout):
            if not loading:
                log.error("queries still running after %.0f s; exiting anyway", timeout)
            worker_done = False
        if not worker_done and loading:
            log.info("stopped while the model was loading (nothing to checkpoint)")
        if self.rt is not None and worker_done:
            self.rt.close()
        self.notifier.close()
        self.state = "stopped"
        log.info("stopped")

    # -- status and hand-over ---------------------------------------------------------------
    def live(self) -> Live:
        """The live half of the status (reelcore.status builds the rest)."""
        rt, watcher, worker = self.rt, self.watcher, self.worker
        job = worker.job if worker else None
        pass_now = worker.passes.current if worker else None  # read once: the worker clears it
        return Live(
            state="waiting" if worker is not None and worker.waiting and self.state == "running" else self.state,
            uptime_s=time.time() - self.started_at,
            job=f"scanning {job.path}" if job is not None and job.kind == "reconcile" else
            (f"{pass_now['channel']}: {pass_now['path']}" if pass_now else None),
            waiting=worker.waiting if worker else None,
            queued=len(self.queue), settling=len(watcher.tracker) if watcher else 0,
            progress=rt.progress.snapshot() if rt else {},
            roots=watcher.snapshot() if watcher else [],
            recent=[asdict(d) for d in list(worker.done)[-20:]] if worker else [],
            unavailable=dict(worker.channel_unavailable) if worker else {},
        )

    def status(self) -> dict[str, Any]:
        """GET /status: live state of the service (JSON-safe)."""
        rt = self.rt
        if rt is None:
            return {"pid": os.getpid(), "state": self.state, "status": self.state}
        # A store not connected yet (reelcore.runtime.LazyFrameStore) is counted from the catalog:
        # /status must not wait seconds for chromadb's import; the first query or job connects it.
        vectors = rt.store.count() if getattr(rt.store, "opened", True) else None
        st = build_status(self.settings, rt.catalog, identity=rt.embedder.identity, vectors=vectors,
                          live=self.live(), model_loaded=rt.embedder.loaded, device=rt.embedder.device)
        st["model"] = self.model_state()
        st["mcp"] = "ready" if self.front.ready else ("failed" if self.front.failed else "loading")
        return st

    def model_state(self) -> str:
        """loaded | loading | waiting (a failed download is retried) | failed."""
        rt, worker = self.rt, self.worker
        if rt is not None and rt.embedder.loaded:
            return "loaded"
        if worker is not None and worker.fatal is not None:
            return "failed"
        return "waiting" if worker is not None and worker.waiting else "loading"

    def status_line(self) -> str:
        """One line for `systemctl status` (STATUS=), from the same builder as /status."""
        rt = self.rt
        if rt is None or self.watcher is None:
            return self.state
        return status_line(build_status(self.settings, rt.catalog, identity=rt.embedder.identity,
                                        live=self.live(), detail=False))

    def enqueue_paths(self, paths: list[str]) -> dict[str, Any]:
        """POST /enqueue: queue a reconcile of each path (file or folder) inside a configured root.
        In the service's first seconds (the watcher starts after the MCP app is built) it waits."""
        deadline = time.monotonic() + FRONT_WAIT + 10
        while self.watcher is None and time.monotonic() < deadline and not self.stop_event.wait(0.05):
            pass
        if self.watcher is None:
            return {"accepted": 0, "paths": [], "queue_length": len(self.queue),
                    "rejected": [{"path": p, "reason": "the service is starting or stopping; try again"}
                                 for p in paths]}
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



def _mcp_app(svc: Service) -> Any:
    """The MCP streamable-HTTP app over the service's own Runtime (its live state in index_status)."""
    # Function-level imports: the MCP SDK, the query side and the viewer are about 2 s of imports
    # that /status must not wait for (module docstring).
    from mcp_server.providers import RuntimeProvider
    from mcp_server.server import http_app

    rt = svc.rt
    assert rt is not None

    def live() -> dict[str, Any]:
        d = asdict(svc.live())
        return {"queued": d["queued"], "settling": d["settling"], "state": d["state"], "waiting": d["waiting"],
                "model": svc.model_state(), "unavailable": d["unavailable"]}

    svc.provider = RuntimeProvider(rt, extra=live)
    return http_app(svc.settings, svc.provider)


def _viewer_app(svc: Service) -> tuple[Any, None, Any]:
    """The viewer (page at /, its API and media) over the MCP side's SearchService; (app, None, public)."""
    from .web import viewer_public, viewer_routes  # function-level: see _mcp_app

    assert svc.provider is not None
    viewer = viewer_routes(svc.provider.search_service, svc.settings, svc.status)
    return Starlette(routes=viewer), None, viewer_public(svc.settings)


def run_service(settings: Settings, extra_routes: list[Any] | None = None,
                stop: threading.Event | None = None) -> int:
    """`reelfind serve`: run until SIGTERM/SIGINT. Exit status 0 on a clean stop, 2 when the model
    cannot be loaded as configured, 1 on any other fatal error (index locked, port busy, ...).

    `stop`: an event the caller already made SIGTERM set (daemon.signals, installed before the
    slow imports); else the handlers are installed here. Either way they are restored at the end.
    The caller must end the process right after (os._exit): a model load cut off by SIGTERM may
    still be running in a thread."""
    event, old = stop_on_signals(stop)
    try:
        return Service(settings, stop=event, extra_routes=extra_routes, abandon_loading=True).run()
    finally:
        restore(old)
