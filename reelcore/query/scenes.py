"""Scenes where several concepts hold at once (soft-AND), e.g. two characters together.

Each concept is scored on every frame of the candidate videos and turned into a z-score against
its own background (concepts have different score levels). A frame scores by its weakest concept
(the minimum z); contiguous runs of frames at or above the threshold are scenes, widened to the
surrounding shot cuts when most of the shot qualifies.

Work is bounded per request: at most MAX_VIDEOS candidate videos, and in a long video (see
frames.py) only windows around the candidate hits are scored, widened while a scene (or the shot
it would snap to) runs on past a window's edge, up to MAX_WINDOW_FRAMES frames per video. A shot
still cut by a window edge after SHOT_GROW_FRAMES is not snapped to (its extent is unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..inputs import QueryError, file_uri
from ..models import SceneOut, ScenesOut
from ..storage.catalog import FileRecord
from ..storage.store import FrameRecord
from .frames import frame_scores, is_long
from .scoring import WEAK_Z, find_runs, snap_to_shots

if TYPE_CHECKING:
    from .readdeps import QueryScorer

MAX_CONCEPTS = 8
# Frame hits per concept used to pick candidate videos, and how many videos are scanned in full.
CANDIDATE_HITS = 400
MAX_VIDEOS = 40
# Long videos: seconds (in sampling intervals) scored around each hit, and the most frames scored.
WINDOW_PAD_FRAMES = 300
MAX_WINDOW_FRAMES = 50_000
SHOT_GROW_FRAMES = 3_000


def find_scenes(svc: QueryScorer, concepts: Sequence[str], limit: int, path_glob: str | None,
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
    for vid, hit_times in videos.items():
        rec = _video(svc, vid)
        if rec is None:
            continue
        for frames, raw, cut in _windows(svc, rec, vecs, hit_times, med, sig, threshold_z):
            best = _scan(rec, frames, raw, cut, med, sig, names, threshold_z, min_duration, gap, svc, scenes,
                         best)
    scenes.sort(key=lambda s: (s.z, s.mean_z, s.end - s.start), reverse=True)
    scenes = [s.model_copy(update={"rank": k + 1}) for k, s in enumerate(scenes[:limit])]
    best_z = best[0] if best else None
    match = "none" if best_z is None or best_z < WEAK_Z else ("good" if best_z >= good_z else "weak")
    return ScenesOut(concepts=names, threshold_z=threshold_z, match=match,
                     message=_message(names, scenes, best, threshold_z, good_z, match),
                     best_z=None if best_z is None else round(best_z, 2), videos_scanned=len(videos),
                     scenes=scenes)


def _scan(rec: FileRecord, frames: list[FrameRecord], raw: np.ndarray, cut: tuple[bool, bool], med: np.ndarray,
          sig: np.ndarray, names: list[str], threshold_z: float, min_duration: float, gap: float,
          svc: QueryScorer, scenes: list[SceneOut],
          best: tuple[float, str, float] | None) -> tuple[float, str, float] | None:
    """Scenes of one stretch of frames (raw: frames x concepts cosine scores) appended to `scenes`;
    returns the best (soft z, path, time) seen so far. `cut`: the stretch's first / last shot may
    go on past its left / right edge (then those shots are not snapped to)."""
    if not frames:
        return best
    ts = np.array([f.t_start for f in frames])
    te = np.array([f.t_end for f in frames])
    shots = np.array([f.shot for f in frames])
    z = (raw - med) / sig  # (frames, concepts)
    soft = z.min(axis=1)
    i_best = int(np.argmax(soft))
    if best is None or soft[i_best] > best[0]:
        best = (float(soft[i_best]), rec.path, float(ts[i_best]))
    ok = soft >= threshold_z
    snap = shots.copy()
    for edge, is_cut in ((0, cut[0]), (-1, cut[1])):
        if is_cut:  # a shot of unknown extent: one pseudo-shot per frame, so nothing snaps to it
            idx = np.flatnonzero(shots == shots[edge])
            snap[idx] = -1 - idx
    for run in find_runs(ts, te, ok, gap):
        run = snap_to_shots(run, snap, ok, ts, te)
        if run.end - run.start < min_duration:
            continue
        sl = slice(run.first, run.last + 1)
        peak = run.first + int(np.argmax(soft[sl]))
        thumb = svc.thumbs.path(rec.video_id, float(ts[peak]))
        scenes.append(SceneOut(
            rank=0, video_id=rec.video_id, path=rec.path, name=rec.path.rsplit("/", 1)[-1],
            start=round(run.start, 3), end=round(run.end, 3), peak=round(float(ts[peak]), 3),
            score=round(float(raw[peak].min()), 4), z=round(float(soft[peak]), 2),
            mean_z=round(float(soft[sl][ok[sl]].mean()), 2),
            concepts={n: round(float(z[peak, k]), 2) for k, n in enumerate(names)},
            frames=int(ok[sl].sum()), shots=sorted({int(s) for s in shots[sl]}),
            snapped_to_shots=run.snapped, thumbnail=str(thumb) if thumb.exists() else None,
            uri=file_uri(rec.path, run.start, run.end),
        ))
    return best


def _video(svc: QueryScorer, video_id: str) -> FileRecord | None:
    """The catalogued video, or with a shared store one another machine indexed."""
    rec = svc.catalog.get_by_video_id(video_id)
    if rec is not None:
        return rec if rec.frames > 0 else None
    return svc.directory.by_video_id(video_id) if svc.directory is not None else None


def _windows(svc: QueryScorer, rec: FileRecord, vecs: np.ndarray, hit_times: list[float], med: np.ndarray,
             sig: np.ndarray, threshold_z: float) -> Iterator[tuple[list[FrameRecord], np.ndarray, tuple[bool, bool]]]:
    """(frames, raw scores, cut) stretches to look for scenes in: the whole video if it is short;
    else windows around the hits, widened while a passing frame, or the shot of the first / last
    passing frame, reaches an edge that is not the video's (see _scan for `cut`)."""
    if not is_long(rec):
        yield (*frame_scores(svc, rec, vecs), (False, False))
        return
    pad = WINDOW_PAD_FRAMES * svc.settings.sampling.interval
    spans: list[list[float]] = []
    for t in sorted(hit_times):
        if spans and t - pad <= spans[-1][1]:
            spans[-1][1] = t + pad
        else:
            spans.append([max(0.0, t - pad), t + pad])
    budget = MAX_WINDOW_FRAMES
    for a, b in spans:
        frames, raw = frame_scores(svc, rec, vecs, a, b)
        cut = (False, False)
        while frames:
            ok = np.flatnonzero(((raw - med) / sig).min(axis=1) >= threshold_z)
            open_left, open_right = a > 0, frames[-1].t_end > b - 1e-9
            shot_left = ok.size > 0 and frames[int(ok[0])].shot == frames[0].shot
            shot_right = ok.size > 0 and frames[int(ok[-1])].shot == frames[-1].shot
            cut = (open_left and shot_left, open_right and shot_right)
            shots_ok = len(frames) < SHOT_GROW_FRAMES
            grow_left = open_left and ok.size > 0 and (ok[0] == 0 or (shot_left and shots_ok))
            grow_right = open_right and ok.size > 0 and (ok[-1] == len(frames) - 1 or (shot_right and shots_ok))
            if not (grow_left or grow_right) or len(frames) >= budget:
                break
            a, b = (max(0.0, a - pad) if grow_left else a), (b + pad if grow_right else b)
            more, more_raw = frame_scores(svc, rec, vecs, a, b)
            if len(more) == len(frames):
                cut = (False, False) if not (open_left or open_right) else cut
                break
            frames, raw = more, more_raw
        budget -= len(frames)
        yield frames, raw, cut
        if budget <= 0:
            return


def _candidate_videos(svc: QueryScorer, vecs: np.ndarray, path_glob: str | None) -> dict[str, list[float]]:
    """Videos where every concept has hits, best first (then ones missing a concept), each with the
    times of its hits (where a long video is scored)."""
    allowed = svc.video_ids_matching(path_glob)
    best: list[dict[str, float]] = []
    times: dict[str, list[float]] = {}
    for v in vecs:
        per: dict[str, float] = {}
        for h in svc.store.query(v, CANDIDATE_HITS, allowed):
            per[h.video_id] = max(per.get(h.video_id, -1.0), h.score)
            times.setdefault(h.video_id, []).append(h.t_start)
        best.append(per)
    vids = set().union(*best) if best else set()
    rank = {v: min(b.get(v, -1.0) for b in best) for v in vids}
    return {v: times[v] for v in sorted(vids, key=lambda v: rank[v], reverse=True)[:MAX_VIDEOS]}


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
