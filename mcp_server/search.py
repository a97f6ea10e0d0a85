"""Query service: text -> cached embedding -> nearest frames -> moments grouped per video."""

from __future__ import annotations

import fnmatch
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from daemon.catalog import Catalog
from daemon.config import Settings
from daemon.embedder import Embedder
from daemon.store import FrameRecord, FrameStore, Thumbnails


class QueryError(ValueError):
    """Bad query input; the message is shown to the user/assistant as is."""


@dataclass
class Moment:
    video_id: str
    path: str
    start: float
    end: float
    peak: float
    score: float
    frames: int
    thumbnail: str | None

    def to_dict(self) -> dict:
        return asdict(self)


class TextEmbeddingCache:
    """LRU cache of query-text embeddings (repeated queries skip the text tower)."""

    def __init__(self, embedder: Embedder, size: int) -> None:
        self.embedder = embedder
        self.size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._data:
                self._data.move_to_end(text)
                return self._data[text]
        vec = self.embedder.encode_texts([text])[0]
        with self._lock:
            self._data[text] = vec
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return vec


def merge_hits(hits: Sequence[FrameRecord], gap: float, thumbs: Thumbnails | None = None) -> list[Moment]:
    """Group frame hits by video and merge neighbours (within `gap` seconds) into ranked moments."""
    by_video: dict[str, list[FrameRecord]] = {}
    for h in hits:
        by_video.setdefault(h.video_id, []).append(h)
    moments: list[Moment] = []
    for vid_hits in by_video.values():
        vid_hits.sort(key=lambda h: h.t_start)
        group: list[FrameRecord] = []
        for h in vid_hits:
            if group and h.t_start - max(g.t_end for g in group) > gap:
                moments.append(_moment(group, thumbs))
                group = []
            group.append(h)
        if group:
            moments.append(_moment(group, thumbs))
    moments.sort(key=lambda m: m.score, reverse=True)
    return moments


def _moment(group: list[FrameRecord], thumbs: Thumbnails | None) -> Moment:
    best = max(group, key=lambda h: h.score)
    thumb = thumbs.path(best.video_id, best.t_start) if thumbs else None
    return Moment(
        video_id=best.video_id,
        path=best.path,
        start=round(min(h.t_start for h in group), 3),
        end=round(max(h.t_end for h in group), 3),
        peak=round(best.t_start, 3),
        score=round(best.score, 4),
        frames=len(group),
        thumbnail=str(thumb) if thumb and thumb.exists() else None,
    )


class SearchService:
    """Read-side operations over the index; MCP tools and the CLI are thin wrappers over this."""

    def __init__(self, settings: Settings, catalog: Catalog, store: FrameStore, embedder: Embedder,
                 thumbs: Thumbnails) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.thumbs = thumbs
        self.text_cache = TextEmbeddingCache(embedder, settings.query.text_cache_size)

    # -- validation -------------------------------------------------------------------------
    def check_query(self, query: str) -> str:
        if not isinstance(query, str) or not query.strip():
            raise QueryError("query is empty: describe what should be in the picture")
        q = query.strip()
        limit = self.settings.query.max_query_chars
        if len(q) > limit:
            raise QueryError(f"query is {len(q)} characters; the limit is {limit}")
        return q

    def check_limit(self, limit: int) -> int:
        mx = self.settings.query.max_limit
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= mx:
            raise QueryError(f"limit must be an integer from 1 to {mx} (got {limit!r})")
        return limit

    def video_ids_matching(self, path_glob: str | None) -> list[str] | None:
        """Video ids whose path matches the glob (None = no filter)."""
        if not path_glob:
            return None
        recs = self.catalog.all()
        return [r.video_id for r in recs
                if fnmatch.fnmatch(r.path, path_glob) or fnmatch.fnmatch(r.path.rsplit("/", 1)[-1], path_glob)]

    # -- queries ----------------------------------------------------------------------------
    def search_vector(self, vector: np.ndarray, limit: int = 10, path_glob: str | None = None,
                      min_score: float | None = None, t_from: float | None = None,
                      t_to: float | None = None) -> list[Moment]:
        limit = self.check_limit(limit)
        where = _time_where(t_from, t_to)
        # Over-fetch frames: several frames usually merge into one moment.
        hits = self.store.query(vector, min(limit * 8, 2000), self.video_ids_matching(path_glob), where)
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        return merge_hits(hits, self.settings.query.merge_gap, self.thumbs)[:limit]

    def search_text(self, query: str, limit: int = 10, path_glob: str | None = None,
                    min_score: float | None = None, t_from: float | None = None,
                    t_to: float | None = None) -> list[Moment]:
        vec = self.text_cache.get(self.check_query(query))
        return self.search_vector(vec, limit, path_glob, min_score, t_from, t_to)


def _time_where(t_from: float | None, t_to: float | None) -> dict | None:
    clauses = []
    if t_from is not None:
        clauses.append({"t_end": {"$gt": float(t_from)}})
    if t_to is not None:
        clauses.append({"t_start": {"$lt": float(t_to)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
