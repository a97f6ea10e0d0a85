"""Where the MCP server gets its SearchService: the running service's core, or a lazily opened store.

The protocol (`ServiceProvider`) is all `mcp_server.server` needs:

    settings: Settings                     # query bounds, server host/port/token
    search_service() -> SearchService      # blocking (may open the store); called in a worker thread
    current_work() -> dict | None          # live indexer progress for index_status, JSON-safe
    embedder: Embedder                     # optional: lets the search tools wait for the model's load

`reelfind serve` wraps its Runtime in `RuntimeProvider(rt, extra=...)` (`extra` may add e.g. the
watcher's queue length to current_work). `reelfind mcp` with no service running uses
`LocalProvider(settings)`, which opens the store itself while queries come in (taking the
data-dir lock) and gives it back when idle. An optional `warm()` method is what the server calls
at start-up to get ready (default: `search_service().warm()`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from reelcore.channels.visual.embedder import Embedder
from reelcore.config import Settings
from reelcore.lock import StoreLocked
from reelcore.query.search import SearchService, TextEmbeddingCache
from reelcore.runtime import Runtime

log = logging.getLogger(__name__)

# Queries (model, store) run in worker threads holding one of these slots: at most MAX_PARALLEL at
# once. Waiting for all of them before the process exits matters: a thread still inside torch or
# Chroma native code at interpreter shutdown aborts the process ("terminate called without an
# active exception"). Whether the index is in use is another question, answered by `using`
# (LocalProvider counts its users); preview clips have their own queue (reelcore.clips).
MAX_PARALLEL = 4
work_slots = threading.BoundedSemaphore(MAX_PARALLEL)


def _take_all_slots(timeout: float) -> int:
    deadline = time.monotonic() + timeout
    got = 0
    while got < MAX_PARALLEL and work_slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
        got += 1
    return got


def _give_slots(n: int) -> None:
    for _ in range(n):
        work_slots.release()


def wait_idle(timeout: float) -> bool:
    """Block until no heavy work runs (or timeout); True if idle."""
    got = _take_all_slots(timeout)
    _give_slots(got)
    return got == MAX_PARALLEL


@contextmanager
def using(provider: ServiceProvider) -> Iterator[SearchService]:
    """The provider's SearchService, marked in use for the block: a LocalProvider never closes the
    index under a caller that holds it (its idle release waits for the block to end)."""
    use = getattr(provider, "use", None)
    if use is None:
        yield provider.search_service()
        return
    with use() as svc:
        yield svc


class ServiceUnavailable(RuntimeError):
    """The index cannot be opened right now; the message says why and what to do."""


@runtime_checkable
class ServiceProvider(Protocol):
    settings: Settings

    def search_service(self) -> SearchService: ...

    def current_work(self) -> dict[str, Any] | None: ...


class RuntimeProvider:
    """Serves queries from an open Runtime (the service's own catalog, store and warm model)."""

    def __init__(self, rt: Runtime, extra: Callable[[], dict[str, Any]] | None = None) -> None:
        self.settings = rt.settings
        self.rt = rt
        self._extra = extra
        self._svc: SearchService | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The model (server.py waits for its load without opening anything)."""
        return self.rt.embedder

    def search_service(self) -> SearchService:
        with self._lock:
            if self._svc is None:
                rt = self.rt
                self._svc = SearchService(rt.settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
            return self._svc

    def current_work(self) -> dict[str, Any] | None:
        snap = dict(self.rt.progress.snapshot())
        if self._extra is not None:
            try:
                snap.update(self._extra())
            except Exception:  # status must never break a tool call
                log.exception("current_work extra failed")
        return snap


class LocalProvider:
    """Opens the store in this process only while queries come in (`reelfind mcp`, no service).

    The data-dir lock is taken on the first query and given back after `idle_release` seconds
    without one, so a desktop client that keeps `reelfind mcp` running all day does not lock
    `reelfind index` / `reelfind serve` out. The model stays loaded across re-opens (it needs no
    lock); the Chroma client is closed on release, so a re-open sees what others wrote meanwhile.
    """

    def __init__(self, settings: Settings, command: str = "mcp", idle_release: float = 60.0) -> None:
        self.settings = settings
        self.command = command
        self.idle_release = idle_release
        self.embedder = Embedder(settings.model)
        self._rt: Runtime | None = None
        self._svc: SearchService | None = None
        self._text_cache: TextEmbeddingCache | None = None
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)  # notified when the last user is done
        self._users = 0
        self._last_use = time.monotonic()
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()

    def warm(self) -> None:
        """Load the model (no store, no lock)."""
        self.embedder.load()
        self.embedder.encode_texts(["a photo"])

    @property
    def is_open(self) -> bool:
        return self._svc is not None

    def search_service(self) -> SearchService:
        with self._lock:
            self._last_use = time.monotonic()
            if self._svc is None:
                self._svc = self._open()
            return self._svc

    @contextmanager
    def use(self) -> Iterator[SearchService]:
        """The service, held open for the block (see `using`)."""
        with self._lock:
            svc = self.search_service()
            self._users += 1
        try:
            yield svc
        finally:
            with self._lock:
                self._users -= 1
                self._last_use = time.monotonic()
                self._idle.notify_all()

    def _open(self) -> SearchService:
        try:
            rt = Runtime.open(self.settings, self.command)
        except StoreLocked as e:
            who = e.owner.get("command", "another reelfind process")
            raise ServiceUnavailable(f"{e}; it is busy ({who}): try again when it has finished") from None
        rt.embedder = self.embedder  # keep the warm model
        self._rt = rt
        svc = SearchService(rt.settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        if self._text_cache is not None:
            svc.text_cache = self._text_cache
        self._text_cache = svc.text_cache
        log.info("opened the index in %s (lock held while queries come in)", self.settings.data_dir)
        if self.idle_release > 0 and (self._watcher is None or not self._watcher.is_alive()):
            self._watcher = threading.Thread(target=self._watch, name="reelfind-idle", daemon=True)
            self._watcher.start()
        return svc

    def _watch(self) -> None:
        while not self._closed.wait(min(5.0, self.idle_release / 4)):
            if self.is_open and time.monotonic() - self._last_use >= self.idle_release:
                self.release(wait=0.0)

    def release(self, wait: float = 0.0) -> bool:
        """Close the store and give the lock back if nobody uses it (waiting up to `wait` s).
        The lock is given back before the service is cleared: once `is_open` is False, another
        process can take the index."""
        with self._lock:
            if not self._idle.wait_for(lambda: self._users == 0, timeout=wait):
                return False
            rt = self._rt
            if rt is None:
                return True
            rt.close()
            self._rt = self._svc = None
            log.info("released the index after %.0f s idle", time.monotonic() - self._last_use)
            return True

    def current_work(self) -> dict[str, Any] | None:
        rt = self._rt
        return None if rt is None else rt.progress.snapshot()

    def close(self) -> None:
        self._closed.set()
        self.release(wait=120.0)


def warm_in_background(provider: ServiceProvider) -> threading.Thread | None:
    """Load the model and background sample in a daemon thread, once per provider."""
    with _warm_lock:
        if id(provider) in _warmed:
            return None
        _warmed.add(id(provider))

    def warm() -> None:
        try:
            with work_slots:
                own = getattr(provider, "warm", None)
                if callable(own):
                    own()  # e.g. LocalProvider: the model only, no store
                else:
                    with using(provider) as svc:
                        svc.warm()
            log.info("query side warm: model loaded, background sample ready")
        except Exception as e:  # reported again, clearly, by the first tool call
            log.warning("could not warm up the query side: %s", e)

    t = threading.Thread(target=warm, name="reelfind-warm", daemon=True)
    t.start()
    return t


_warm_lock = threading.Lock()
_warmed: set[int] = set()
