"""Scenes where several concepts hold at once (soft-AND), e.g. two characters together.

Each concept is scored on every frame of the candidate videos and turned into a z-score against
its own background (concepts have different score levels). A frame scores by its weakest concept
(the minimum z); contiguous runs of frames at or above the threshold are scenes, widened to the
surrounding shot cuts when most of the shot qualifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .inputs import QueryError, file_uri
from .models import SceneOut, ScenesOut
from .scoring import WEAK_Z, find_runs, snap_to_shots

if TYPE_CHECKING:
    from .search import SearchService

MAX_CONCEPTS = 8
# Frame hits per concept used to pick candidate videos, and how many videos are scanned in full.
CANDIDATE_HITS = 400
MAX_VIDEOS = 40


def find_scenes(svc: SearchService, concepts: Sequence[str], limit: int, path_glob: str | None,
                threshold_z: float, min_duration: float) -> ScenesOut:
    limit = svc.check_limit(limit)
    names = list(dict.fromkeys(svc.check_query(c) for c in concepts))
    if not names:
        raise QueryError("give a description or at least one concept in all_of")
    if len(names) > MAX_CONCEPTS:
        raise QueryError(f"at most {MAX_CONCEPTS} concepts in all_of (got {len(names)})")
    vecs = np.stack([svc.query_vector(c) for c in names])
    bgs = [svc.background(v) for v in vecs]
    med = np.array([b.median for b in bgs], np.float32)
    sig = np.array([b.sigma for b in bgs], np.float32)
    good_z = max(b.good_z for b in bgs)

    scenes: list[SceneOut] = []
    best: tuple[float, str, float] | None = None  # (soft z, path, time) of the best frame seen
    videos = _candidate_videos(svc, vecs, path_glob)
    gap = svc.settings.query.merge_gap
    for vid in videos:
        rec = svc.catalog.get_by_video_id(vid)
        if rec is None or rec.frames <= 0:
            continue
        frames, fv = svc.video_frames(rec)
        ts = np.array([f.t_start for f in frames])
        te = np.array([f.t_end for f in frames])
        shots = np.array([f.shot for f in frames])
        z = (fv @ vecs.T - med) / sig  # (frames, concepts)
        soft = z.min(axis=1)
        i_best = int(np.argmax(soft))
        if best is None or soft[i_best] > best[0]:
            best = (float(soft[i_best]), rec.path, float(ts[i_best]))
        ok = soft >= threshold_z
        for run in find_runs(ts, te, ok, gap):
            run = snap_to_shots(run, shots, ok, ts, te)
            if run.end - run.start < min_duration:
                continue
            sl = slice(run.first, run.last + 1)
            peak = run.first + int(np.argmax(soft[sl]))
            thumb = svc.thumbs.path(rec.video_id, float(ts[peak]))
            scenes.append(SceneOut(
                rank=0, video_id=rec.video_id, path=rec.path, name=rec.path.rsplit("/", 1)[-1],
                start=round(run.start, 3), end=round(run.end, 3), peak=round(float(ts[peak]), 3),
                score=round(float((fv[peak] @ vecs.T).min()), 4), z=round(float(soft[peak]), 2),
                mean_z=round(float(soft[sl][ok[sl]].mean()), 2),
                concepts={n: round(float(z[peak, k]), 2) for k, n in enumerate(names)},
                frames=int(ok[sl].sum()), shots=sorted({int(s) for s in shots[sl]}),
                snapped_to_shots=run.snapped, thumbnail=str(thumb) if thumb.exists() else None,
                uri=file_uri(rec.path, run.start, run.end),
            ))
    scenes.sort(key=lambda s: (s.z, s.mean_z, s.end - s.start), reverse=True)
    scenes = [s.model_copy(update={"rank": k + 1}) for k, s in enumerate(scenes[:limit])]
    best_z = best[0] if best else None
    match = "none" if best_z is None or best_z < WEAK_Z else ("good" if best_z >= good_z else "weak")
    return ScenesOut(concepts=names, threshold_z=threshold_z, match=match,
                     message=_message(names, scenes, best, threshold_z, good_z, match),
                     best_z=None if best_z is None else round(best_z, 2), videos_scanned=len(videos),
                     scenes=scenes)


def _candidate_videos(svc: SearchService, vecs: np.ndarray, path_glob: str | None) -> list[str]:
    """Videos where every concept has hits, best first (then ones missing a concept)."""
    allowed = svc.video_ids_matching(path_glob)
    best: list[dict[str, float]] = []
    for v in vecs:
        per: dict[str, float] = {}
        for h in svc.store.query(v, CANDIDATE_HITS, allowed):
            per[h.video_id] = max(per.get(h.video_id, -1.0), h.score)
        best.append(per)
    vids = set().union(*best) if best else set()
    rank = {v: min(b.get(v, -1.0) for b in best) for v in vids}
    return sorted(vids, key=lambda v: rank[v], reverse=True)[:MAX_VIDEOS]


def _message(names: list[str], scenes: list[SceneOut], best: tuple[float, str, float] | None,
             threshold_z: float, good_z: float, match: str) -> str:
    together = " + ".join(repr(n) for n in names)
    if best is None:
        return "Nothing indexed to search (or nothing matches path_glob)."
    if not scenes:
        return (f"No scene where {together} all hold (every concept at least {threshold_z} sigma above its "
                f"background). Closest frame: {best[1]} at {best[2]:.1f} s, weakest concept at "
                f"{best[0]:.1f} sigma.")
    if match == "good":
        return f"Found {len(scenes)} scene(s) where {together} all hold; the best is a good match."
    return (f"Found {len(scenes)} scene(s) above the threshold, but the best has its weakest concept only "
            f"{best[0]:.1f} sigma above background (a good match needs {good_z:.1f}): check the thumbnails.")
