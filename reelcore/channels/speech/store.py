"""Speech records in the vector store: one Chroma collection per speech identity (records.py).

Text is the document, times/language/source/word times are metadata. Word and phrase search runs
on the local accelerator (fts.py), which is rebuilt from this collection whenever the two disagree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ...config import Settings
from ..base import Segment, Word
from ..records import RecordCollection, text_vector

MAX_WORDS_JSON = 60_000  # characters of word times kept per segment (metadata size bound)


def segment_id(video_id: str, k: int) -> str:
    return f"{video_id}:s:{k}"


def to_meta(video_id: str, path: str, seg: Segment) -> dict[str, Any]:
    words = json.dumps([[w.text, w.start, w.end] for w in seg.words], ensure_ascii=False) if seg.words else ""
    return {"video_id": video_id, "path": path, "t_start": seg.start, "t_end": seg.end,
            "language": seg.language or "", "source": seg.source,
            "words": words if len(words) <= MAX_WORDS_JSON else ""}


def from_meta(doc: str, m: dict[str, Any]) -> Segment:
    words: tuple[Word, ...] = ()
    if m.get("words"):
        try:
            words = tuple(Word(str(w[0]), float(w[1]), float(w[2])) for w in json.loads(m["words"]))
        except (ValueError, TypeError, IndexError):
            words = ()
    return Segment(float(m["t_start"]), float(m["t_end"]), doc or "", m.get("language") or None,
                   str(m.get("source") or ""), words)


class SpeechStore(RecordCollection):
    """Transcript segments of one speech identity."""

    kind, tag = "speech", "s"

    def __init__(self, settings: Settings, identity: str, client: Any) -> None:
        self.settings = settings
        super().__init__(settings.store.collection_prefix, identity, client,
                         settings.store.url or str(settings.chroma_dir))

    def replace_video(self, video_id: str, path: str, segments: Sequence[Segment], first: int = 0) -> None:
        """Store segments `first`.. of a video (ids by position: a re-run overwrites, never doubles).
        With first == 0 the video's older segments go first."""
        self.put(video_id, first, [s.text for s in segments], [to_meta(video_id, path, s) for s in segments])

    def video(self, video_id: str) -> list[Segment]:
        """A video's segments in time order."""
        segs = [from_meta(d, m) for d, m, _ in self.pages({"video_id": video_id})]
        return sorted(segs, key=lambda s: (s.start, s.end))

    def everything(self) -> Iterator[tuple[str, str, str, Segment]]:
        """(id, video_id, path, segment) of the whole collection, a page at a time (accelerator rebuild)."""
        for d, m, i in self.pages(None):
            yield i, str(m["video_id"]), str(m.get("path") or ""), from_meta(d, m)


__all__ = ["SpeechStore", "from_meta", "segment_id", "text_vector", "to_meta"]
