"""find_scenes across channels: things seen together AND phrases said there.

`all_of` items written `said:<words>` are looked for in the speech channel; the others are seen
(reelcore.query.scenes). A scene qualifies when every said phrase is said (all its words, as a phrase;
see speech/match.py) within query.merge_gap seconds of the scene. With only said items, the
scenes are the transcript segments where the first phrase is said, kept when the others are said
near them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..inputs import QueryError, file_uri
from ..models import SaidOut, SceneOut, ScenesOut
from .speech.answer import said_out
from .speech.channel import SpeechChannel
from .speech.reader import SpeechIndex, speech_index

if TYPE_CHECKING:
    from ..query.search import SearchService

PREFIX = "said:"
SCAN = 200  # seen scenes (or said hits) checked for the said phrases


def split(items: Sequence[str]) -> tuple[list[str], list[str]]:
    seen, said = [], []
    for x in items:
        if x.strip().lower().startswith(PREFIX):
            phrase = x.strip()[len(PREFIX):].strip()
            if not phrase:
                raise QueryError(f"'{x}' names no words: write said:<the words>")
            said.append(phrase)
        else:
            seen.append(x)
    return seen, list(dict.fromkeys(said))


def _said_near(idx: SpeechIndex, phrase: str, video_id: str, t0: float, t1: float) -> SaidOut | None:
    res = idx.search(phrase, [video_id], t0, t1, limit=1)
    return said_out(res.hits[0]) if res.match == "good" and res.hits else None


def find_scenes_channels(svc: SearchService, concepts: Sequence[str], limit: int = 10,
                         path_glob: str | None = None, threshold_z: float = 2.5,
                         min_duration: float = 0.0) -> ScenesOut:
    seen, said = split(concepts)
    if not said:
        return svc.scenes(seen, limit, path_glob, threshold_z, min_duration)
    ch = SpeechChannel(svc.settings)
    if not ch.enabled:
        raise QueryError("said: items need the speech channel, which is disabled (channels.speech.enabled)")
    limit = svc.check_limit(limit)
    idx = speech_index(svc.settings, svc.store, ch.identity)
    gap = svc.settings.query.merge_gap
    if seen:
        base = svc.scenes(seen, min(SCAN, svc.settings.query.max_limit), path_glob, threshold_z, min_duration)
        candidates = base.scenes
    else:
        base = None
        hits = idx.search(said[0], svc.video_ids_matching(path_glob), None, None, SCAN).hits
        candidates = []
        for h in hits:
            rec = svc.catalog.get_by_video_id(h.video_id)
            path = rec.path if rec is not None else h.path
            s = h.segment
            candidates.append(SceneOut(rank=0, video_id=h.video_id, path=path, name=path.rsplit("/", 1)[-1],
                                       start=s.start, end=s.end, peak=h.start, score=h.score, z=0.0, mean_z=0.0,
                                       concepts={}, frames=0, shots=[], snapped_to_shots=False, thumbnail=None,
                                       uri=file_uri(path, s.start, s.end)))
    kept: list[SceneOut] = []
    for sc in candidates:
        found: dict[str, SaidOut] = {}
        for phrase in said:
            got = _said_near(idx, phrase, sc.video_id, sc.start - gap, sc.end + gap)
            if got is None:
                break
            found[phrase] = got
        else:
            kept.append(sc.model_copy(update={"said": found, "rank": len(kept) + 1}))
        if len(kept) >= limit:
            break
    quoted = ", ".join(f"'{p}'" for p in said)
    if kept:
        match = base.match if base is not None else "good"
        what = f"{', '.join(seen)} seen while {quoted} is said" if seen else f"{quoted} said"
        message = f"{len(kept)} scene(s) with {what}." + (f" Seen: {base.message}" if base is not None else "")
    else:
        match = "none"
        message = (f"No scene where {', '.join(seen)} is seen and {quoted} is said near it "
                   f"({len(candidates)} seen scene(s) checked)." if seen else f"{quoted} is not said together.")
    return ScenesOut(concepts=list(seen), threshold_z=threshold_z, match=match, message=message,
                     best_z=base.best_z if base is not None else None,
                     videos_scanned=base.videos_scanned if base is not None else len({c.video_id for c in candidates}),
                     scenes=kept, said=said)
