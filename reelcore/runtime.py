"""Wires the shared core (catalog, store, embedder, thumbnails) for one process."""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .channels.visual.embedder import Embedder
from .config import Settings
from .ingest.discovery import Reconciler, Root
from .lock import DataDirLock
from .progress import Progress
from .storage.catalog import Catalog
from .storage.store import FrameStore, StoreError, Thumbnails, collection_name

if TYPE_CHECKING:
    from .channels.passes import ChannelPasses
    from .channels.taps import TapBoard
    from .channels.visual.indexer import Indexer

log = logging.getLogger(__name__)


class LazyFrameStore(FrameStore):
    """A FrameStore that connects (and imports chromadb, 1-4 s) on first use, not when opened.

    `reelfind index` on an unchanged folder reads only the catalog, so it never pays for Chroma.
    Everything FrameStore sets up in `__init__` (the client, the collection) is created by the
    first access to one of those private attributes, once, under a lock (the service's threads
    share one store); `identity` and `name` are known without connecting. A failure to connect
    is a StoreError (the indexer must not blame the file) and the next use tries again.
    """

    def __init__(self, settings: Settings, identity: str) -> None:  # noqa: D107 (no super(): lazy)
        self.settings = settings
        self.identity = identity
        self.name = collection_name(settings.store.collection_prefix, identity)
        self._count = None
        self._open_lock = threading.Lock()
        self._opened = False

    @property
    def opened(self) -> bool:
        return self._opened

    def open(self) -> None:
        """Connect now (idempotent)."""
        if self._opened:
            return
        with self._open_lock:
            if self._opened:
                return
            try:
                FrameStore.__init__(self, self.settings, self.identity)
            except Exception as e:  # chromadb raises many kinds when a server or a folder is unusable
                self._drop_client()
                where = self.settings.store.url or str(self.settings.chroma_dir)
                why = str(e) if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
                raise StoreError(f"cannot open the vector store at {where}: {why}") from e
            self._opened = True

    def _drop_client(self) -> None:
        client = self.__dict__.pop("_client", None)
        self.__dict__.pop("_collection", None)
        close = getattr(client, "close", None)
        if callable(close):
            try:
                close()
            except Exception as e:  # already failing: the original error is the one to report
                log.debug("closing a half-opened store: %s", e)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set yet: whatever FrameStore's __init__ sets (its client,
        # collection and any later addition) appears once it has run.
        if not name.startswith("__") and not self.__dict__.get("_opened", True):
            self.open()
            return object.__getattribute__(self, name)
        raise AttributeError(name)

    def close(self) -> None:
        if self._opened:
            super().close()


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    store: FrameStore
    embedder: Embedder
    thumbs: Thumbnails
    lock: DataDirLock | None = None
    progress: Progress = field(default_factory=Progress)
    taps: TapBoard | None = None  # the channels' taps on the visual decode (channels/taps.py)

    def __post_init__(self) -> None:
        if self.lock is not None and self.settings.channels.text.enabled:  # only text taps today
            from .channels.registry import enabled_channels
            from .channels.taps import TapBoard

            self.taps = TapBoard(self.settings.data_dir / "tap-spool", lambda: enabled_channels(self.settings))

    @classmethod
    def open(cls, settings: Settings, command: str, own_store: bool = True) -> Runtime:
        """Open the core. `own_store` takes the data-dir lock (raises StoreLocked if held)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = None
        if own_store:
            lock = DataDirLock(settings.lock_path)
            lock.acquire(command, settings.mcp_url if command == "serve" else None)
        try:
            # Neither the model nor Chroma is opened here (see LazyFrameStore, Embedder.preload):
            # the identity comes from the settings and the model's config file.
            embedder = Embedder(settings.model)
            store = LazyFrameStore(settings, embedder.identity)
            catalog = Catalog(settings.catalog_path)
        except BaseException:
            if lock:
                lock.release()
            raise
        return cls(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir), lock)

    def indexer(self) -> Indexer:
        # Imported here for start-up speed: the indexer pulls in PyAV, which a no-op run never needs.
        from .channels.visual.indexer import Indexer

        return Indexer(self.settings, self.catalog, self.store, self.embedder, self.thumbs, self.progress,
                       self.taps)

    def channel_passes(self) -> ChannelPasses:
        """The non-visual channels' passes (speech, people), run after the visual work (channels/passes.py)."""
        from .channels.passes import ChannelPasses

        return ChannelPasses(self.settings, self.catalog, self.store, taps=self.taps)

    def reconciler(self) -> Reconciler:
        return Reconciler(self.catalog, self.store, self.thumbs, self.embedder.identity)

    def configured_roots(self) -> list[Root]:
        return [Root(Path(os.path.abspath(r.path.expanduser())), tuple(r.include), tuple(r.exclude))
                for r in self.settings.roots]

    def close(self) -> None:
        # The lock is given back even if closing the store fails: a long-lived process (the stdio
        # bridge releases the index when idle) must never keep others locked out.
        try:
            if "reelcore.channels.speech.reader" in sys.modules:  # speech indexes share the store's client
                sys.modules["reelcore.channels.speech.reader"].forget_indexes(self.store)
            if "reelcore.channels.text.store" in sys.modules:  # so do the text channel's read copies
                sys.modules["reelcore.channels.text.store"].forget_stores(self.store)
            if self.taps is not None:
                self.taps.close()
            self.store.close()
        finally:
            try:
                self.catalog.close()
            finally:
                if self.lock:
                    self.lock.release()
