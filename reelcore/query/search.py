"""Query service: text -> cached embedding -> nearest frames -> moments grouped per video.

`SearchService` is the read side shared by the CLI and the MCP tools. Besides plain moment search
it judges results against the query's background (see scoring.py), and offers scenes
(scenes.py), score timelines and frames (timeline.py), and the video list and index status
(overview.py). Every method is blocking: async callers run them in a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.visual.embedder import Embedder
from ..config import Settings
from ..inputs import (
    TIMELINE_PEAKS,
    TIMELINE_POINTS,
    QueryError,
    check_range,
    decode_image,
    file_uri,
    glob_match,
    resolve_video,
)
from ..models import MomentOut, SearchOut
from ..storage.catalog import Catalog, FileRecord
from ..storage.shared import StoreDirectory
from ..storage.store import FrameRecord, FrameStore, Thumbnails
from .frames import frames_near, is_long
from .scoring import WEAK_Z, Background, background_of, background_out, frame_at, verdict

if TYPE_CHECKING:
    from ..models import FrameOut, ScenesOut, StatusOut, TimelineOut, VideoListOut

__all__ = ["Moment", "QueryError", "SearchService", "TextEmbeddingCache", "merge_hits"]

# Random frame vectors a query's background is measured on; refreshed when the index grows.
BACKGROUND_SAMPLE = 2048
BACKGROUND_TTL = 600.0
# Weight of the negative description in `exclude` (query vector minus this times the exclusion).
EXCLUDE_WEIGHT = 0.5
# Per-video frame vectors kept in memory for timelines, scenes and similar_moments.
FRAME_CACHE_FRAMES = 60_000


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
        self._sample_lock = threading.Lock()
        self._sample: tuple[float, int, np.ndarray] | None = None  # (time, index size, vectors)
        self._frames_lock = threading.Lock()
        self._frames: OrderedDict[tuple, tuple[list[FrameRecord], np.ndarray]] = OrderedDict()
        # A shared Chroma server holds other machines' videos too: the read side sees them (shared.py).
        self.directory: StoreDirectory | None = StoreDirectory(store, catalog) if settings.store.url else None

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
        ids = self.catalog.video_ids_matching(path_glob)  # filtered in SQL (globsql.py)
        if self.directory is not None:
            ids += [r.video_id for r in self.directory.remote() if glob_match(r.path, path_glob)]
        return ids

    def any_video_matching(self, path_glob: str) -> bool:
        if self.catalog.any_matching(path_glob):
            return True
        return self.directory is not None and any(glob_match(r.path, path_glob) for r in self.directory.remote())

    def resolve_video(self, video: str) -> FileRecord:
        """The indexed file meant by a video_id, catalogued path or unique file name (with a shared
        store also a video another machine indexed: a RemoteRecord)."""
        return resolve_video(self.catalog, video, directory=self.directory)

    def check_time(self, rec: FileRecord, t: float, frames: list[FrameRecord]) -> float:
        if not isinstance(t, int | float) or t != t or t in (float("inf"), float("-inf")):
            raise QueryError(f"time must be a number of seconds (got {t!r})")
        if t < 0:
            raise QueryError(f"time must be 0 or more seconds (got {t})")
        end = max(rec.duration or 0.0, frames[-1].t_end if frames else 0.0)
        if t > end + 0.5:
            raise QueryError(f"time {t} s is past the end of {rec.path} ({end:.2f} s long)")
        return float(t)

    # -- vectors ----------------------------------------------------------------------------
    def query_vector(self, query: str, exclude: str | None = None) -> np.ndarray:
        """Unit text vector; with `exclude`, the query minus EXCLUDE_WEIGHT x the exclusion."""
        vec = self.text_cache.get(self.check_query(query))
        if exclude is not None and exclude.strip():
            neg = self.text_cache.get(self.check_query(exclude))
            vec = vec - EXCLUDE_WEIGHT * neg
            vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return np.asarray(vec, dtype=np.float32)

    def image_vector(self, image_base64: str) -> np.ndarray:
        return self.embedder.encode_images([decode_image(image_base64)])[0]

    def video_frames(self, rec: FileRecord) -> tuple[list[FrameRecord], np.ndarray]:
        """A video's frames (time order) and their vectors, cached until the file is re-indexed."""
        key = (rec.video_id, rec.frames, rec.updated_at)
        with self._frames_lock:
            hit = self._frames.get(key)
            if hit is not None:
                self._frames.move_to_end(key)
                return hit
        recs, vecs = self.store.video_frames(rec.video_id, with_vectors=True)
        if not recs:
            raise QueryError(f"{rec.path} has no indexed frames in the store (re-index it)")
        entry = (recs, np.asarray(vecs, dtype=np.float32))
        with self._frames_lock:
            for k in [k for k in self._frames if k[0] == rec.video_id]:
                del self._frames[k]
            self._frames[key] = entry
            while sum(len(v[0]) for v in self._frames.values()) > FRAME_CACHE_FRAMES and len(self._frames) > 1:
                self._frames.popitem(last=False)
        return entry

    def frame_spans(self, rec: FileRecord, t0: float | None = None,
                    t1: float | None = None) -> list[FrameRecord]:
        """Frames (metadata only, time order) with t0 <= t_start < t1: one window of a long video
        instead of all its vectors (for filmstrips and frame lists; see frames.py)."""
        if not is_long(rec):
            frames, _ = self.video_frames(rec)
            return [f for f in frames if (t0 is None or f.t_start >= t0) and (t1 is None or f.t_start < t1)]
        return self.store.frames_between(rec.video_id, t0, t1)[0]

    def background(self, vector: np.ndarray) -> Background:
        """The vector's scores against a cached random sample of indexed frames, summarised."""
        total, sample = self._background_sample()
        scores = sample @ np.asarray(vector, dtype=np.float32) if len(sample) else np.zeros(0)
        return background_of(scores, total)

    def _background_sample(self) -> tuple[int, np.ndarray]:
        total = self.store.count()
        with self._sample_lock:
            cached = self._sample
            if cached is not None:
                when, size, vecs = cached
                if time.monotonic() - when < BACKGROUND_TTL and abs(total - size) <= 0.05 * max(size, 1):
                    return total, vecs
            vecs = self.store.sample_vectors(BACKGROUND_SAMPLE)
            self._sample = (time.monotonic(), total, vecs)
            return total, vecs

    def warm(self) -> None:
        """Load the model and the background sample now, so the first query is fast."""
        self.embedder.load()
        self.text_cache.get("a photo")
        self._background_sample()

    # -- moments ----------------------------------------------------------------------------
    def search_vector(self, vector: np.ndarray, limit: int = 10, path_glob: str | None = None,
                      min_score: float | None = None, t_from: float | None = None,
                      t_to: float | None = None) -> list[Moment]:
        return self._moments(vector, self.check_limit(limit), path_glob, min_score, t_from, t_to)

    def _moments(self, vector: np.ndarray, limit: int, path_glob: str | None, min_score: float | None,
                 t_from: float | None = None, t_to: float | None = None) -> list[Moment]:
        where = _time_where(t_from, t_to)
        # Over-fetch frames: several frames usually merge into one moment.
        hits = self.store.query(vector, min(limit * 8, 2000), self.video_ids_matching(path_glob), where)
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        if hits:
            # Only frames that match about as well as the best one form moments ("half maximum" in
            # background sigmas); otherwise on a small index every adjacent weak hit would merge.
            bg = self.background(vector)
            best_z = float(bg.z(max(h.score for h in hits)))
            floor = relevance_floor(best_z)
            hits = [h for h in hits if bg.z(h.score) >= floor]
        return merge_hits(hits, self.settings.query.merge_gap, self.thumbs)[:limit]

    def search_text(self, query: str, limit: int = 10, path_glob: str | None = None,
                    min_score: float | None = None, t_from: float | None = None,
                    t_to: float | None = None) -> list[Moment]:
        vec = self.text_cache.get(self.check_query(query))
        return self.search_vector(vec, limit, path_glob, min_score, t_from, t_to)

    def search(self, query: str, limit: int = 10, path_glob: str | None = None,
               min_score: float | None = None, exclude: str | None = None, t_from: float | None = None,
               t_to: float | None = None) -> SearchOut:
        """Ranked moments for a description, each judged against the query's background.
        `t_from`/`t_to`: only frames overlapping that time range (seconds from each video's start)."""
        if t_from is not None and t_to is not None and t_to <= t_from:
            raise QueryError(f"t_to ({t_to:g} s) must be later than t_from ({t_from:g} s)")
        vec = self.query_vector(query, exclude)
        moments = self.search_vector(vec, limit, path_glob, min_score, t_from, t_to)
        out = self.judge(moments, self.background(vec), "the query", path_glob)
        return out.model_copy(update={"query": query.strip(), "exclude": (exclude or "").strip() or None})

    def search_image(self, image_base64: str, limit: int = 10, path_glob: str | None = None,
                     min_score: float | None = None) -> SearchOut:
        """Moments that look like the given image."""
        limit = self.check_limit(limit)
        vec = self.image_vector(image_base64)
        out = self.judge(self._moments(vec, limit, path_glob, min_score), self.background(vec), "the image",
                         path_glob)
        return out.model_copy(update={"query": "<image>"})

    def similar(self, video: str, t: float, limit: int = 10, path_glob: str | None = None,
                same_video: bool = True) -> SearchOut:
        """Moments that look like the indexed frame of `video` at time `t` (that moment excluded)."""
        limit = self.check_limit(limit)
        rec = self.resolve_video(video)
        frames, vecs = frames_near(self, rec, t, with_vectors=True)
        if not frames or vecs is None:
            raise QueryError(f"{rec.path} has no indexed frames in the store (re-index it)")
        t = self.check_time(rec, t, frames)
        i = frame_at(np.array([f.t_start for f in frames]), np.array([f.t_end for f in frames]), t)
        src = frames[i]
        moments = [m for m in self._moments(vecs[i], limit + 8, path_glob, None)
                   if m.video_id != rec.video_id or (same_video and not m.start <= src.t_start < m.end)]
        out = self.judge(moments[:limit], self.background(vecs[i]), "that frame", path_glob)
        return out.model_copy(update={"query": f"{rec.path} @ {src.t_start:.2f}s"})

    def judge(self, moments: Sequence[Moment], bg: Background, what: str, path_glob: str | None) -> SearchOut:
        """Moments with z-scores, a good/weak/none label and a sentence saying how far to trust them."""
        out = [moment_out(k + 1, m, float(bg.z(m.score))) for k, m in enumerate(moments)]
        best_z = max((m.z for m in out), default=None)
        match = bg.label(best_z)
        message = verdict(match, best_z, bg, what)
        if not out and path_glob and not self.any_video_matching(path_glob):
            message = f"No indexed video matches path_glob {path_glob!r}; see list_videos."
        return SearchOut(query="", match=match, message=message, best_z=_r(best_z),
                         background=background_out(bg), moments=out)

    # -- other views (see scenes.py, timeline.py, overview.py) ------------------------------
    def scenes(self, concepts: Sequence[str], limit: int = 10, path_glob: str | None = None,
               threshold_z: float = 2.5, min_duration: float = 0.0) -> ScenesOut:
        from .scenes import find_scenes

        return find_scenes(self, concepts, limit, path_glob, threshold_z, min_duration)

    def timeline(self, video: str, query: str, max_points: int = 300,
                 peaks: int = 5) -> tuple[TimelineOut, bytes]:
        from .timeline import score_timeline

        max_points = check_range("max_points", max_points, *TIMELINE_POINTS)
        peaks = check_range("peaks", peaks, *TIMELINE_PEAKS)
        return score_timeline(self, video, query, max_points, peaks)

    def frame(self, video: str, t: float) -> FrameOut:
        from .timeline import frame_at_time

        return frame_at_time(self, video, t)

    def list_videos(self, path_glob: str | None = None, state: str | None = None, limit: int = 50,
                    offset: int = 0) -> VideoListOut:
        from .overview import list_videos

        return list_videos(self, path_glob, state, limit, offset)

    def status(self, current: dict[str, Any] | None = None) -> StatusOut:
        from ..status import index_status

        return index_status(self, current)


def relevance_floor(best_z: float) -> float:
    """z a frame needs to join a moment, given the best frame's z: half the best, but never more than
    a weak match needs, nor less than one sigma below the best. It only thins out the noise below the
    best hit, never the best hit itself: with a best z of 0 or less (nothing beats the background;
    a random-weight model) "half the best" would lie above the best, so the floor is then one sigma
    below it and the closest frames still come back (labelled "none" by judge)."""
    if best_z <= 0:
        return best_z - 1.0
    return max(min(WEAK_Z, best_z - 1.0), 0.5 * best_z)


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def moment_out(rank: int, m: Moment, z: float) -> MomentOut:
    return MomentOut(rank=rank, video_id=m.video_id, path=m.path, name=m.path.rsplit("/", 1)[-1],
                     start=m.start, end=m.end, peak=m.peak, score=m.score, z=round(z, 2), frames=m.frames,
                     thumbnail=m.thumbnail, uri=file_uri(m.path, m.start, m.end))


def _time_where(t_from: float | None, t_to: float | None) -> dict | None:
    clauses = []
    if t_from is not None:
        clauses.append({"t_end": {"$gt": float(t_from)}})
    if t_to is not None:
        clauses.append({"t_start": {"$lt": float(t_to)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
