"""Speech records in the vector store: one Chroma collection per speech identity.

Text is the document, times/language/source/word times are metadata, and the vector is a small
hashed character-trigram profile of the text computed here (Chroma's default embedding function
downloads a model: it is never used; `embedding_function=None`). A shared Chroma server therefore
shares transcripts like frame vectors. Word and phrase search runs on the local accelerator
(fts.py), which is rebuilt from this collection whenever the two disagree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ...config import Settings
from ...lazymod import numpy as np  # loaded on first use: a no-op `reelfind index` needs no arrays
from ...store import PAGE, StoreError, _GuardedCollection, collection_name
from ..base import Segment, Word

log = logging.getLogger(__name__)

DIM = 64
GENERATION_ID = "__generation__"  # one record whose metadata changes with every write (see generation)
MAX_WORDS_JSON = 60_000  # characters of word times kept per segment (metadata size bound)


def text_vector(text: str) -> np.ndarray:
    """Hashed character-trigram profile (unit length): near spellings land near each other."""
    v = np.zeros(DIM, dtype=np.float32)
    t = f"  {text.casefold()}  "
    for i in range(len(t) - 2):
        h = int.from_bytes(hashlib.blake2b(t[i:i + 3].encode(), digest_size=2).digest(), "little")
        v[h % DIM] += 1.0
    n = float(np.linalg.norm(v))
    return v / n if n else v + 1.0 / np.sqrt(DIM)


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


class SpeechStore:
    """Transcript segments of one speech identity. `client`: the frame store's Chroma client (one
    client per process and path; a second one would stop the shared system when closed)."""

    def __init__(self, settings: Settings, identity: str, client: Any) -> None:
        self.settings = settings
        self.identity = identity
        self.name = collection_name(settings.store.collection_prefix, f"speech-{identity}")
        where = settings.store.url or str(settings.chroma_dir)
        try:
            c = client.get_or_create_collection(name=self.name, embedding_function=None,
                                                configuration={"hnsw": {"space": "cosine"}},
                                                metadata={"channel": "speech", "identity": identity})
        except Exception as e:
            raise StoreError(f"cannot open the speech collection at {where}: {type(e).__name__}: {e}") from e
        self._c = _GuardedCollection(c, where)
        self._client = client

    def count(self) -> int:
        """Segments stored (the generation marker not counted)."""
        return max(0, int(self._c.count()) - (1 if self.generation() else 0))

    def generation(self) -> str:
        """A token that changes with every write of any machine (empty before the first write):
        readers rebuild their word index when it is not the one they built from."""
        got = self._c.get(ids=[GENERATION_ID], include=["metadatas"])
        return str(got["metadatas"][0].get("gen", "")) if got["ids"] else ""

    def bump(self) -> str:
        gen = uuid.uuid4().hex
        self._c.upsert(ids=[GENERATION_ID], embeddings=np.ones((1, DIM), dtype=np.float32) / np.sqrt(DIM),
                       documents=[""], metadatas=[{"video_id": "", "gen": gen}])
        return gen

    def replace_video(self, video_id: str, path: str, segments: Sequence[Segment], first: int = 0) -> None:
        """Store segments `first`.. of a video (ids by position: a re-run overwrites, never doubles).
        With first == 0 the video's older segments go first."""
        if first == 0:
            self.delete_video(video_id)
        for lo in range(0, len(segments), PAGE):
            part = segments[lo:lo + PAGE]
            self._c.upsert(ids=[segment_id(video_id, first + lo + k) for k in range(len(part))],
                           embeddings=np.stack([text_vector(s.text) for s in part]),
                           documents=[s.text for s in part],
                           metadatas=[to_meta(video_id, path, s) for s in part])

    def delete_video(self, video_id: str) -> None:
        self._c.delete(where={"video_id": video_id})

    def video(self, video_id: str) -> list[Segment]:
        """A video's segments in time order."""
        segs = [from_meta(d, m) for d, m, _ in self._pages({"video_id": video_id})]
        return sorted(segs, key=lambda s: (s.start, s.end))

    def everything(self) -> Iterator[tuple[str, str, str, Segment]]:
        """(id, video_id, path, segment) of the whole collection, a page at a time (accelerator rebuild)."""
        for d, m, i in self._pages(None):
            if i != GENERATION_ID:
                yield i, str(m["video_id"]), str(m.get("path") or ""), from_meta(d, m)

    def _pages(self, where: dict | None) -> Iterator[tuple[str, dict, str]]:
        offset = 0
        while True:
            got = self._c.get(where=where, include=["documents", "metadatas"], limit=PAGE, offset=offset)
            ids = got["ids"]
            for i, d, m in zip(ids, got["documents"], got["metadatas"], strict=True):
                yield d, m, i
            if len(ids) < PAGE:
                return
            offset += PAGE

    def drop(self) -> None:
        """Delete the whole collection (`reelfind forget --channel speech`)."""
        try:
            self._client.delete_collection(self.name)
        except Exception as e:  # not there (never created on this server): nothing to forget
            log.debug("dropping %s: %s", self.name, e)

    @staticmethod
    def collections(client: Any, prefix: str) -> list[str]:
        """Names of every speech collection (all identities) on this client."""
        names = [getattr(c, "name", c) for c in client.list_collections()]
        head = collection_name(prefix, "speech-")[:len(prefix) + 7]
        return [n for n in names if str(n).startswith(head)]


__all__ = ["SpeechStore", "from_meta", "segment_id", "text_vector", "to_meta"]
