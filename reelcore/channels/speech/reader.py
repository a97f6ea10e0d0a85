"""SpeechIndex: the speech records of one identity, in the store and the local word index.

Writes go to the store first, then to the word index (fts.py); reads come from the word index,
which is rebuilt from the store when they disagree. One instance per frame store and identity is
shared by the writer and the readers of a process (`speech_index`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ...config import Settings
from ...inputs import QueryError
from ..base import Segment
from .fts import SpeechFTS
from .match import CANDIDATES, SaidHit, fts_expression, label, rank, variants, words_of
from .store import SpeechStore, segment_id

MAX_QUERY_WORDS = 32
MAX_TRANSCRIPT_SEGMENTS = 500  # per get_transcript answer
MAX_TRANSCRIPT_CHARS = 50_000


@dataclass
class SaidResult:
    hits: list[SaidHit]
    match: str  # good | weak | none
    words: list[str]


class SpeechIndex:
    def __init__(self, settings: Settings, client: object, identity: str) -> None:
        self.settings = settings
        self.identity = identity
        self.store = SpeechStore(settings, identity, client)
        self.fts = SpeechFTS(settings.data_dir / "speech-fts" / f"{self.store.name}.sqlite3")

    def close(self) -> None:
        self.fts.close()

    # -- writes (the one writer of the process) ------------------------------------------------
    def replace_video(self, video_id: str, path: str, segments: list[Segment], first: int = 0) -> None:
        before = self.store.generation()
        self.store.replace_video(video_id, path, segments, first)
        self.fts.replace_video(video_id, [(segment_id(video_id, first + k), video_id, path, s)
                                          for k, s in enumerate(segments)], first)
        self._written(before)

    def delete_video(self, video_id: str) -> None:
        before = self.store.generation()
        self.store.delete_video(video_id)
        self.fts.delete_video(video_id)
        self._written(before)

    def _written(self, before: str) -> None:
        """A new generation for other machines; ours stays current only if it was (no one else wrote
        before our write; a write of another machine in the same instant is caught at the next one)."""
        gen = self.store.bump()
        if self.fts.generation == before:
            self.fts.set_generation(gen)

    def sync(self, force: bool = False) -> bool:
        """Rebuild the word index from the store if the store was written by someone else since."""
        return self.fts.sync(self.store.generation(), _lazy(self.store), force=force)

    # -- reads --------------------------------------------------------------------------------
    def search(self, query: str, video_ids: list[str] | None = None, t_from: float | None = None,
               t_to: float | None = None, limit: int = 10) -> SaidResult:
        qwords = [w for w, _, _ in words_of(query)][:MAX_QUERY_WORDS]
        if not qwords:
            raise QueryError("the query has no words to look for in what is said")
        self.sync()
        var = variants(qwords, self.fts.vocabulary())
        big = video_ids is not None and len(video_ids) > 900  # too many for one SQL IN (): filter here
        cands = self.fts.match(fts_expression(var), None if big else video_ids, t_from, t_to, CANDIDATES)
        if big:
            keep = set(video_ids or ())
            cands = [c for c in cands if c[1] in keep]
        hits = rank(cands, var)
        return SaidResult(hits[:limit], label(hits[0] if hits else None, len(qwords)), qwords)

    def transcript(self, video_id: str, t_from: float | None = None,
                   t_to: float | None = None) -> tuple[list[Segment], bool]:
        """Segments overlapping [t_from, t_to) in time order, bounded; and whether it was cut."""
        segs = [s for s in self.store.video(video_id)
                if (t_from is None or s.end > t_from) and (t_to is None or s.start < t_to)]
        out, chars = [], 0
        for s in segs:
            chars += len(s.text)
            if len(out) >= MAX_TRANSCRIPT_SEGMENTS or chars > MAX_TRANSCRIPT_CHARS:
                return out, True
            out.append(s)
        return out, False


def _lazy(store: SpeechStore):
    class _Items:
        def __iter__(self):
            return iter(store.everything())
    return _Items()


_indexes: dict[tuple[int, str], SpeechIndex] = {}
_lock = threading.Lock()


def speech_index(settings: Settings, frame_store: object, identity: str) -> SpeechIndex:
    """The process's SpeechIndex for this frame store (its Chroma client) and identity."""
    key = (id(frame_store), identity)
    with _lock:
        idx = _indexes.get(key)
        if idx is None:
            idx = SpeechIndex(settings, frame_store._client, identity)  # type: ignore[attr-defined]
            _indexes[key] = idx
        return idx


def forget_indexes(frame_store: object) -> None:
    """Drop the cached indexes of a frame store being closed."""
    with _lock:
        for key in [k for k in _indexes if k[0] == id(frame_store)]:
            _indexes.pop(key).close()
