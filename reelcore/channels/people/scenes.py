"""find_scenes(people=[...]): stretches where all the named people are on screen at once.

With other items too (seen, `said:`), those scenes are found as usual (scenes_said.py) and kept
where they overlap a stretch with all the people; without, the stretches themselves are the
scenes. Each scene carries `who`: the people and each one's appearances in that video (the heat
strip per person).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...inputs import file_uri
from ...models import SceneOut, ScenesOut
from ..scenes_said import SCAN, find_scenes_channels
from .answer import check_people, together_in, who_out, with_frames

if TYPE_CHECKING:
    from ...query.search import SearchService


def find_scenes_people(svc: SearchService, concepts: Sequence[str], people: Sequence[str], limit: int = 10,
                       path_glob: str | None = None, threshold_z: float = 2.5,
                       min_duration: float = 0.0) -> ScenesOut:
    limit = svc.check_limit(limit)
    names = check_people(list(people))
    if not names:
        return find_scenes_channels(svc, concepts, limit, path_glob, threshold_z, min_duration)
    found = [m for m in together_in(svc, names, path_glob) if m.end - m.start >= min_duration]
    who = " and ".join(names)
    if not concepts:
        scenes = [SceneOut(rank=k + 1, video_id=m.video_id, path=m.path, name=m.path.rsplit("/", 1)[-1],
                           start=m.start, end=m.end, peak=round((m.start + m.end) / 2, 3), score=1.0, z=0.0,
                           mean_z=0.0, concepts={}, frames=0, shots=[], snapped_to_shots=False, thumbnail=None,
                           uri=file_uri(m.path, m.start, m.end), who=who_out(m))
                  for k, m in enumerate(found[:limit])]
        scenes = with_frames(svc, scenes)
        msg = (f"{len(found)} scene(s) with {who} on screen{' together' if len(names) > 1 else ''}."
               if scenes else _none(names))
        return ScenesOut(concepts=[], threshold_z=threshold_z, match="good" if scenes else "none", message=msg,
                         best_z=None, videos_scanned=len({m.video_id for m in found}), scenes=scenes, people=names)
    base = find_scenes_channels(svc, concepts, min(SCAN, svc.settings.query.max_limit), path_glob, threshold_z,
                                min_duration)
    kept: list[SceneOut] = []
    for sc in base.scenes:
        hit = next((m for m in found if m.video_id == sc.video_id and m.start <= sc.end and sc.start <= m.end), None)
        if hit is not None:
            kept.append(sc.model_copy(update={"who": who_out(hit), "rank": len(kept) + 1}))
        if len(kept) >= limit:
            break
    if kept:
        match, msg = base.match, f"{len(kept)} scene(s) with {who} on screen. {base.message}"
    else:
        match = "none"
        msg = (f"none of the {len(base.scenes)} scene(s) found is one with {who} on screen. {base.message}"
               if found else _none(names))
    return base.model_copy(update={"scenes": kept, "match": match, "message": msg, "people": names})


def _none(names: list[str]) -> str:
    if len(names) > 1:
        return f"{' and '.join(names)} are never on screen together in the indexed footage."
    return f"{names[0]} is not on screen in the indexed footage."
