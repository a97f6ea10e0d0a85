"""Face tracks in the vector store: one Chroma collection per people-channel identity.

Each track is one record: its 128-d unit vector, with video, time span, best frame and box as
metadata, like the other channels' records, so a shared Chroma server holds every machine's faces
and a face can be looked up by similarity there. Who a track is (people, names) stays in the
local people tables (people_db.py): names are the user's data, changed in one SQLite transaction
with the grouping. Crops stay local too (small JPEGs in the people tables).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...storage.store import PAGE, StoreError, _GuardedCollection, collection_name
from .tracks import FaceTrack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceHit:
    video_id: str
    path: str
    start: float
    end: float
    box: tuple[int, int, int, int]
    distance: float  # euclidean between unit vectors


def track_id(video_id: str, k: int) -> str:
    return f"{video_id}:f:{k}"


class FaceStore:
    """Face track vectors of one identity. `client`: the frame store's Chroma client (one per process)."""

    def __init__(self, client: Any, prefix: str, identity: str, where: str = "the vector store") -> None:
        self.name = collection_name(prefix, f"people-{identity}")
        self._client = client
        try:
            c = client.get_or_create_collection(name=self.name, embedding_function=None,
                                                configuration={"hnsw": {"space": "l2"}},
                                                metadata={"channel": "people", "identity": identity})
        except Exception as e:
            raise StoreError(f"cannot open the people collection at {where}: {type(e).__name__}: {e}") from e
        self._c = _GuardedCollection(c, where)

    def count(self) -> int:
        return int(self._c.count())

    def replace_video(self, video_id: str, path: str, tracks: Sequence[FaceTrack]) -> None:
        """A video's tracks (ids by position: a re-run overwrites, never doubles)."""
        self.delete_video(video_id)
        for lo in range(0, len(tracks), PAGE):
            part = tracks[lo:lo + PAGE]
            self._c.upsert(
                ids=[track_id(video_id, lo + k) for k in range(len(part))],
                embeddings=np.stack([np.asarray(t.vector, np.float32) for t in part]),
                metadatas=[{"video_id": video_id, "path": path, "t_start": t.start, "t_end": t.end,
                            "best_t": t.best_t, "box": json.dumps(list(t.box)), "frames": t.frames,
                            "quality": round(float(t.quality), 4)} for t in part])

    def delete_video(self, video_id: str) -> None:
        self._c.delete(where={"video_id": video_id})

    def set_path(self, video_id: str, path: str) -> None:
        """A moved file keeps its tracks."""
        got = self._c.get(where={"video_id": video_id}, include=["metadatas"])
        if got["ids"]:
            self._c.update(ids=got["ids"], metadatas=[{**m, "path": path} for m in got["metadatas"]])

    def nearest(self, vector: np.ndarray, n: int = 10) -> list[FaceHit]:
        """Tracks whose face is nearest to `vector` (unit, 128-d)."""
        if self.count() == 0:
            return []
        got = self._c.query(query_embeddings=[np.asarray(vector, np.float32)], n_results=max(1, min(n, 1000)),
                            include=["metadatas", "distances"])
        out = []
        for m, d in zip(got["metadatas"][0], got["distances"][0], strict=True):
            out.append(FaceHit(str(m["video_id"]), str(m["path"]), float(m["t_start"]), float(m["t_end"]),
                               tuple(json.loads(m["box"])), float(np.sqrt(max(d, 0.0)))))
        return out

    def drop(self) -> None:
        """Delete the whole collection (`reelfind forget --channel people`)."""
        try:
            self._client.delete_collection(self.name)
        except Exception as e:  # never created on this server: nothing to forget
            log.debug("dropping %s: %s", self.name, e)
