"""A channel's records in the vector store: one Chroma collection per channel identity.

What the speech and text channels share: the collection (on the frame store's client, so a shared
Chroma server holds every machine's records like frame vectors), ids by position within a video (a
re-run overwrites, never doubles), paged reads, a generation token that changes with every write
(readers rebuild their local index when it is not the one they built from), and dropping every
identity's collection (`reelfind forget --channel`). The vector is a small hashed character-trigram
profile of the record's text computed here (Chroma's default embedding function downloads a model:
it is never used; `embedding_function=None`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ..lazymod import numpy as np  # loaded on first use: a no-op `reelfind index` needs no arrays
from ..storage.store import PAGE, StoreError, _GuardedCollection, collection_name

log = logging.getLogger(__name__)

DIM = 64
GENERATION_ID = "__generation__"  # one record whose metadata changes with every write (see generation)


def text_vector(text: str) -> np.ndarray:
    """Hashed character-trigram profile (unit length): near spellings land near each other."""
    v = np.zeros(DIM, dtype=np.float32)
    t = f"  {text.casefold()}  "
    for i in range(len(t) - 2):
        h = int.from_bytes(hashlib.blake2b(t[i:i + 3].encode(), digest_size=2).digest(), "little")
        v[h % DIM] += 1.0
    n = float(np.linalg.norm(v))
    return v / n if n else v + 1.0 / np.sqrt(DIM)


class RecordCollection:
    """Text-bearing records of one channel identity. `client`: the frame store's Chroma client (one
    client per process and path; a second one would stop the shared system when closed).
    `kind`: the channel's name ("speech", "text"); `tag`: the letter in record ids."""

    kind = "records"
    tag = "r"

    def __init__(self, prefix: str, identity: str, client: Any, where: str) -> None:
        self.identity = identity
        self.name = collection_name(prefix, f"{self.kind}-{identity}")
        try:
            c = client.get_or_create_collection(name=self.name, embedding_function=None,
                                                configuration={"hnsw": {"space": "cosine"}},
                                                metadata={"channel": self.kind, "identity": identity})
        except Exception as e:
            raise StoreError(f"cannot open the {self.kind} collection at {where}: {type(e).__name__}: {e}") from e
        self._c = _GuardedCollection(c, where)
        self._client = client

    def record_id(self, video_id: str, k: int) -> str:
        return f"{video_id}:{self.tag}:{k}"

    def count(self) -> int:
        """Records stored (the generation marker not counted)."""
        return max(0, int(self._c.count()) - (1 if self.generation() else 0))

    def generation(self) -> str:
        """A token that changes with every write of any machine (empty before the first write)."""
        got = self._c.get(ids=[GENERATION_ID], include=["metadatas"])
        return str(got["metadatas"][0].get("gen", "")) if got["ids"] else ""

    def bump(self) -> str:
        gen = uuid.uuid4().hex
        self._c.upsert(ids=[GENERATION_ID], embeddings=np.ones((1, DIM), dtype=np.float32) / np.sqrt(DIM),
                       documents=[""], metadatas=[{"video_id": "", "gen": gen}])
        return gen

    def put(self, video_id: str, first: int, texts: Sequence[str], metas: Sequence[dict[str, Any]]) -> None:
        """Records `first`.. of a video (`metas` carry video_id and path); with first == 0 the
        video's older records go first."""
        if first == 0:
            self.delete_video(video_id)
        for lo in range(0, len(texts), PAGE):
            part = texts[lo:lo + PAGE]
            self._c.upsert(ids=[self.record_id(video_id, first + lo + k) for k in range(len(part))],
                           embeddings=np.stack([text_vector(t) for t in part]),
                           documents=list(part), metadatas=list(metas[lo:lo + PAGE]))

    def delete_video(self, video_id: str) -> None:
        self._c.delete(where={"video_id": video_id})

    def pages(self, where: dict | None) -> Iterator[tuple[str, dict, str]]:
        """(document, metadata, id) of the records matching `where`, a page at a time (no marker)."""
        offset = 0
        while True:
            got = self._c.get(where=where, include=["documents", "metadatas"], limit=PAGE, offset=offset)
            ids = got["ids"]
            for i, d, m in zip(ids, got["documents"], got["metadatas"], strict=True):
                if i != GENERATION_ID:
                    yield d, m, i
            if len(ids) < PAGE:
                return
            offset += PAGE

    def drop(self) -> None:
        """Delete the whole collection."""
        try:
            self._client.delete_collection(self.name)
        except Exception as e:  # not there (never created on this server): nothing to forget
            log.debug("dropping %s: %s", self.name, e)

    @classmethod
    def collections(cls, client: Any, prefix: str) -> list[str]:
        """Names of every collection of this kind (all identities) on this client."""
        names = [getattr(c, "name", c) for c in client.list_collections()]
        head = collection_name(prefix, f"{cls.kind}-")[:len(prefix) + len(cls.kind) + 2]
        return [n for n in names if str(n).startswith(head)]

    @classmethod
    def drop_all(cls, client: Any, prefix: str) -> None:
        """Every identity's collection of this kind (`reelfind forget --channel`)."""
        for name in cls.collections(client, prefix):
            try:
                client.delete_collection(name)
            except Exception as e:
                raise StoreError(f"cannot delete the {cls.kind} collection {name}: {e}") from e
