"""Wires the shared core (catalog, store, embedder, thumbnails) for one process."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog
from .config import Settings
from .discovery import Reconciler, Root
from .embedder import Embedder
from .indexer import Indexer, Progress
from .lock import DataDirLock
from .store import FrameStore, Thumbnails

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    store: FrameStore
    embedder: Embedder
    thumbs: Thumbnails
    lock: DataDirLock | None = None
    progress: Progress = field(default_factory=Progress)

    @classmethod
    def open(cls, settings: Settings, command: str, own_store: bool = True) -> Runtime:
        """Open the core. `own_store` takes the data-dir lock (raises StoreLocked if held)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = None
        if own_store:
            lock = DataDirLock(settings.lock_path)
            lock.acquire(command, settings.mcp_url if command == "serve" else None)
        store = None
        try:
            embedder = Embedder(settings.model)
            store = FrameStore(settings, embedder.identity)
            catalog = Catalog(settings.catalog_path)
        except BaseException:
            if store is not None:  # e.g. a catalog from a newer reelfind: do not leave Chroma open
                store.close()
            if lock:
                lock.release()
            raise
        return cls(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir), lock)

    def indexer(self) -> Indexer:
        return Indexer(self.settings, self.catalog, self.store, self.embedder, self.thumbs, self.progress)

    def reconciler(self) -> Reconciler:
        return Reconciler(self.catalog, self.store, self.thumbs, self.embedder.identity)

    def configured_roots(self) -> list[Root]:
        return [Root(Path(os.path.abspath(r.path.expanduser())), tuple(r.include), tuple(r.exclude))
                for r in self.settings.roots]

    def close(self) -> None:
        # The lock is given back even if closing the store fails: a long-lived process (the stdio
        # bridge releases the index when idle) must never keep others locked out.
        try:
            self.store.close()
        finally:
            try:
                self.catalog.close()
            finally:
                if self.lock:
                    self.lock.release()
