"""Videos that other machines indexed into a shared Chroma server (`store.url`).

With a shared server the collection holds every machine's vectors, but each machine's catalog
knows only its own files. For one question to get one answer whichever machine is asked, the
read side takes a video it does not catalogue from the vector metadata itself (video_id, path,
t_start, t_end, shot): `StoreDirectory` lists the stored videos from their first frames (one row
per video, t_start == 0), cached for a short time. Such a video is a `RemoteRecord`: its path and
times are real, but its thumbnails live in the other machine's data_dir, so no image is served.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .catalog import INDEXED, Catalog, FileRecord
from .store import FrameRecord, FrameStore

# Seconds a listing of the store's videos is reused (new videos from other machines show up after).
DIRECTORY_TTL = 30.0
REMOTE_NOTE = "indexed by another machine that shares the vector store (store.url)"


@dataclass
class RemoteRecord(FileRecord):
    """A stored video this machine's catalog does not know (frames and duration unknown here)."""


def remote_record(head: FrameRecord, identity: str, fetched: float) -> RemoteRecord:
    return RemoteRecord(id=0, path=head.path, root="", size=0, mtime=0.0, fingerprint="", video_id=head.video_id,
                        stale_video_id=None, state=INDEXED, error=None, note=REMOTE_NOTE, frames=0, cursor_ms=None,
                        duration=None, model_identity=identity, unavailable=0, attempts=0, next_retry=None,
                        updated_at=fetched - fetched % DIRECTORY_TTL)  # stable for frame caching


class StoreDirectory:
    """The stored videos the local catalog does not know, from the store's metadata."""

    def __init__(self, store: FrameStore, catalog: Catalog, ttl: float = DIRECTORY_TTL) -> None:
        self.store = store
        self.catalog = catalog
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[RemoteRecord]] | None = None

    def remote(self) -> list[RemoteRecord]:
        """Videos in the store but not in the local catalog, sorted by path."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            heads = self.store.video_heads()
            local = self.catalog.known_video_ids([h.video_id for h in heads])
            now = time.time()
            recs = sorted((remote_record(h, self.store.identity, now) for h in heads if h.video_id not in local),
                          key=lambda r: r.path)
            self._cached = (time.monotonic(), recs)
            return recs

    def by_video_id(self, video_id: str) -> RemoteRecord | None:
        head = self.store.video_head(video_id=video_id)
        return None if head is None else remote_record(head, self.store.identity, time.time())

    def by_path(self, path: str) -> RemoteRecord | None:
        head = self.store.video_head(path=path)
        if head is None or self.catalog.known_video_ids([head.video_id]):
            return None
        return remote_record(head, self.store.identity, time.time())

    def by_suffix(self, suffix: str) -> list[RemoteRecord]:
        return [r for r in self.remote() if r.path.endswith(suffix)]

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None
