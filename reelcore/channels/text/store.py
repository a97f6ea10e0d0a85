"""Text records in the vector store (one Chroma collection per text identity, records.py) and the
process's read copy of them.

A line's text is the document; its time span, box (normalised 0..1), confidence and how many reads
saw it are metadata, with the video id and path, so a shared Chroma server gives every machine the
same lines. Searches run over `TextLines`, a copy of the collection held in memory and reloaded
whenever the collection's generation token changed (a write of this or another machine): on-screen
text is a few dozen lines per file, so a library's lines fit in memory (100,000 files at 30 lines
each: ~3 million lines, ~1 GB; a word index on disk would be the next step past that).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..records import RecordCollection
from .spans import TextRecord


def to_meta(video_id: str, path: str, r: TextRecord) -> dict[str, Any]:
    x0, y0, x1, y1 = r.box
    return {"video_id": video_id, "path": path, "t_start": float(r.t_start), "t_end": float(r.t_end),
            "confidence": float(r.confidence), "x0": float(x0), "y0": float(y0), "x1": float(x1), "y1": float(y1),
            "seen": int(r.seen)}


def from_meta(doc: str, m: dict[str, Any]) -> TextRecord:
    return TextRecord(doc or "", (float(m["x0"]), float(m["y0"]), float(m["x1"]), float(m["y1"])),
                      float(m["confidence"]), float(m["t_start"]), float(m["t_end"]), int(m.get("seen") or 1))


class TextStore(RecordCollection):
    """Line records of one text identity."""

    kind, tag = "text", "t"

    def replace_video(self, video_id: str, path: str, records: Sequence[TextRecord]) -> None:
        """A video's lines (ids by position: a re-run overwrites, never doubles)."""
        self.put(video_id, 0, [r.text for r in records], [to_meta(video_id, path, r) for r in records])

    def video(self, video_id: str) -> list[TextRecord]:
        """A video's lines in time order."""
        recs = [from_meta(d, m) for d, m, _ in self.pages({"video_id": video_id})]
        return sorted(recs, key=lambda r: (r.t_start, r.box[1]))


@dataclass(frozen=True)
class Line:
    """One stored line with the file it is in (as the store last knew its path)."""

    video_id: str
    path: str
    record: TextRecord


class TextLines:
    """Every line of one text identity, read from the store when its generation changed."""

    def __init__(self, store: TextStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._gen: str | None = None
        self._lines: list[Line] = []

    def lines(self) -> list[Line]:
        gen = self.store.generation()  # one small read per search
        with self._lock:
            if gen != self._gen:
                self._lines = [Line(str(m["video_id"]), str(m.get("path") or ""), from_meta(d, m))
                               for d, m, _ in self.store.pages(None)]
                self._gen = gen
            return self._lines

    def written(self) -> None:
        """This process wrote: read again at the next search."""
        with self._lock:
            self._gen = None


_stores: dict[tuple[int, str], TextLines] = {}
_lock = threading.Lock()


def text_lines(frame_store: Any, prefix: str, identity: str, where: str) -> TextLines:
    """The process's TextLines (and its TextStore) for this frame store (its Chroma client) and identity."""
    key = (id(frame_store), identity)
    with _lock:
        tl = _stores.get(key)
        if tl is None:
            tl = TextLines(TextStore(prefix, identity, frame_store._client, where))
            _stores[key] = tl
        return tl


def forget_stores(frame_store: Any) -> None:
    """Drop the cached copies of a frame store's collections (they are being deleted)."""
    with _lock:
        for key in [k for k in _stores if k[0] == id(frame_store)]:
            _stores.pop(key)
