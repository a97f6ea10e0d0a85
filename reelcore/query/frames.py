"""Reading one video's frames for a request, in bounded windows when the video is long.

A short video's frames and vectors are loaded once and cached (SearchService.video_frames). A long
one (a 24-hour file at 1 fps is ~176 MB of vectors, more than the cache holds) is never loaded
whole: a frame lookup reads a small time window around the asked time, and a score curve is
computed window by window, keeping only the scores. Videos another machine indexed (shared
store, frame count unknown here) always take the windowed path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..storage.catalog import FileRecord
from ..storage.shared import RemoteRecord
from ..storage.store import FrameRecord

if TYPE_CHECKING:
    from .readdeps import FrameSource

# Videos with more frames than this are read in windows (their vectors are never all in memory).
LONG_VIDEO_FRAMES = 10_000
# Frames (at the sampling interval) per window when scoring a long video: ~10 MB of 512-d vectors.
CHUNK_FRAMES = 5_000
# Half-width of the first window read around an asked time, in sampling intervals (then widened).
NEAR_FRAMES = 16
FAR = 1e7  # seconds: a window this wide covers any video


def is_long(rec: FileRecord) -> bool:
    return isinstance(rec, RemoteRecord) or rec.frames > LONG_VIDEO_FRAMES


def frames_near(svc: FrameSource, rec: FileRecord, t: float,
                with_vectors: bool = False) -> tuple[list[FrameRecord], np.ndarray | None]:
    """Time-sorted frames (and vectors) of a window that holds the frame covering t, or the video's
    last frame if t is past its end (frames are contiguous: each t_end is the next t_start)."""
    if not is_long(rec):
        frames, vecs = svc.video_frames(rec)
        return frames, vecs if with_vectors else None
    span = NEAR_FRAMES * svc.settings.sampling.interval
    while True:
        frames, vecs = svc.store.frames_between(rec.video_id, max(0.0, t - span), t + span, with_vectors)
        if any(f.t_start <= t for f in frames) or span >= FAR:
            return frames, vecs
        span *= 8


def frame_scores(svc: FrameSource, rec: FileRecord, queries: np.ndarray, t0: float | None = None,
                 t1: float | None = None) -> tuple[list[FrameRecord], np.ndarray]:
    """Frames with t0 <= t_start < t1 (default: all) and their cosine scores against each query
    (frames x queries). Long videos are read one window at a time."""
    q = np.asarray(queries, dtype=np.float32).reshape(-1, queries.shape[-1])
    if not is_long(rec):
        frames, vecs = svc.video_frames(rec)
        ts = np.array([f.t_start for f in frames])
        sel = np.flatnonzero((ts >= (t0 if t0 is not None else -np.inf)) & (ts < (t1 if t1 is not None else np.inf)))
        return [frames[i] for i in sel], vecs[sel] @ q.T
    width = CHUNK_FRAMES * svc.settings.sampling.interval
    end = FAR if t1 is None else t1
    cursor = 0.0 if t0 is None else max(0.0, t0)
    out: list[FrameRecord] = []
    scores: list[np.ndarray] = []
    while cursor < end:
        hi = min(cursor + width, end)
        frames, vecs = svc.store.frames_between(rec.video_id, cursor, hi, with_vectors=True)
        if frames:
            out.extend(frames)
            scores.append(np.asarray(vecs, dtype=np.float32) @ q.T)
        elif t1 is None and (not out or out[-1].t_end <= cursor):
            break  # open-ended and nothing here nor reaching past here: the video has ended
        cursor = hi
    return out, np.concatenate(scores) if scores else np.zeros((0, len(q)), np.float32)


def filmstrip(svc: FrameSource, rec: FileRecord, start: float, end: float | None,
              most: int) -> list[FrameRecord]:
    """Up to `most` frames, evenly chosen, of those overlapping [start, end) (end None: to the video's
    end), for a filmstrip. Reads only that span (plus the window holding the frame that covers
    `start`); a span past the video's end gives its last frame."""
    start = max(0.0, start)
    inside = svc.frame_spans(rec, start, end)
    if not inside or inside[0].t_start > start:
        near, _ = frames_near(svc, rec, start)
        before = [f for f in near if f.t_start <= start]
        if before and (before[-1].t_end > start or not inside):
            inside = [before[-1], *inside]
    if not inside:
        inside = svc.frame_spans(rec, None, None)[:1]
    step = max(1, -(-len(inside) // most))
    return inside[::step]
