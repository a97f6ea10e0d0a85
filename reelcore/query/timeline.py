"""Per-video views: the score timeline of a query (numbers + PNG heatmap) and single frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..inputs import QueryError, file_uri
from ..models import FrameOut, PeakOut, TimelineOut, TimelinePoint
from ..storage.shared import RemoteRecord
from .frames import frame_scores, frames_near
from .heatmap import render_strip
from .scoring import background_out, bin_timeline, find_peaks, frame_at, verdict

if TYPE_CHECKING:
    from .readdeps import QueryScorer


def score_timeline(svc: QueryScorer, video: str, query: str, max_points: int,
                   peaks: int) -> tuple[TimelineOut, bytes]:
    """Scores of every indexed frame of `video` against `query`, top peaks, and a PNG strip (a long
    video is scored window by window: only its scores are ever held, see frames.py)."""
    rec = svc.resolve_video(video)
    vec = svc.query_vector(query)
    bg = svc.background(vec)
    frames, per_query = frame_scores(svc, rec, vec[None, :])
    if not frames:
        raise QueryError(f"{rec.path} has no indexed frames in the store (re-index it)")
    ts = np.array([f.t_start for f in frames])
    te = np.array([f.t_end for f in frames])
    scores = per_query[:, 0]
    z = np.asarray(bg.z(scores))
    duration = float(max(rec.duration or 0.0, te[-1]))
    sep = max(2.0 * svc.settings.query.merge_gap, 1.0)
    peak_idx = find_peaks(ts, scores, peaks, sep)
    peak_out = []
    for i in peak_idx:
        thumb = svc.thumbs.path(rec.video_id, float(ts[i]))
        peak_out.append(PeakOut(time=round(float(ts[i]), 3), start=round(float(ts[i]), 3),
                                end=round(float(te[i]), 3), score=round(float(scores[i]), 4),
                                z=round(float(z[i]), 2), thumbnail=str(thumb) if thumb.exists() else None,
                                uri=file_uri(rec.path, float(ts[i]), float(te[i]))))
    points = [TimelinePoint(start=round(a, 3), end=round(b, 3), score=round(s, 4), z=round(float(bg.z(s)), 2))
              for a, b, s in bin_timeline(ts, te, scores, max_points)]
    # Colour: 0 at the background median, full yellow at a good match (or the video's best if higher).
    zmax = max(bg.good_z, float(z.max()))
    png = render_strip(ts, te, np.clip(z, 0.0, None) / zmax, duration, peaks=[p.time for p in peak_out])
    best_z = float(z.max())
    match = bg.label(best_z)
    out = TimelineOut(
        video_id=rec.video_id, path=rec.path, name=rec.path.rsplit("/", 1)[-1], query=query.strip(),
        duration=round(duration, 3), frames=len(frames), binned=len(points) < len(frames), match=match,
        message=verdict(match, best_z, bg, "the query"), background=background_out(bg), peaks=peak_out,
        points=points,
        heatmap=(f"PNG strip: time 0-{duration:.1f} s left to right; dark purple = background level, "
                 f"yellow = {zmax:.1f} sigma or more above it; white marks = peaks"),
    )
    return out, png


def frame_at_time(svc: QueryScorer, video: str, t: float) -> FrameOut:
    """The indexed frame of `video` covering time t (its thumbnail is what the tool returns)."""
    rec = svc.resolve_video(video)
    frames, _ = frames_near(svc, rec, t)
    if not frames:
        raise QueryError(f"{rec.path} has no indexed frames in the store (re-index it)")
    t = svc.check_time(rec, t, frames)
    i = frame_at(np.array([f.t_start for f in frames]), np.array([f.t_end for f in frames]), t)
    fr = frames[i]
    thumb = svc.thumbs.path(rec.video_id, fr.t_start)
    if isinstance(rec, RemoteRecord):
        raise QueryError(
            f"{rec.path} was indexed by another machine that shares the vector store; its frame images "
            f"are kept in that machine's data_dir, so this machine cannot show them. The frame at "
            f"{t:.2f} s covers {fr.t_start:.2f}-{fr.t_end:.2f} s (shot {fr.shot}): ask reelfind on that "
            f"machine, or open {file_uri(rec.path, fr.t_start)} there.")
    if not thumb.is_file():
        raise QueryError(f"the thumbnail of {rec.path} at {fr.t_start:.2f} s is missing; re-index the file")
    return FrameOut(video_id=rec.video_id, path=rec.path, name=rec.path.rsplit("/", 1)[-1], requested_time=t,
                    start=round(fr.t_start, 3), end=round(fr.t_end, 3), shot=fr.shot, thumbnail=str(thumb),
                    uri=file_uri(rec.path, fr.t_start))
