"""The people channel's read side for search_footage: the `who` channel.

Two ways in: `people=[...]` asks for moments where all of them are on screen together (unknown
names: an error naming the closest), and a query that names known people ("Maria in the kitchen")
finds their moments without being asked (no error: most queries name nobody). Each moment is a
stretch where all of them are on screen at once (query.together), with `who` filled.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, TypeVar

from ...inputs import QueryError, file_uri
from ...models import ChannelMatch, MomentOut, SceneOut, SpanOut, WhoOut
from ..answer import ChannelAnswer, SearchArgs
from ..base import WHO
from .api import OFF, PeopleOff, open_people
from .query import Together, together

if TYPE_CHECKING:
    from ...query.search import SearchService

_M = TypeVar("_M", MomentOut, SceneOut)


def named_in(query: str, names: list[str]) -> list[str]:
    """Known names the query mentions as whole words (case-insensitive), longest first."""
    q = " ".join(query.split())
    found = [n for n in sorted(names, key=len, reverse=True)
             if re.search(rf"(?<!\w){re.escape(n)}(?!\w)", q, flags=re.IGNORECASE)]
    return list(dict.fromkeys(found))


def together_in(svc: SearchService, names: list[str], path_glob: str | None = None,
                t_from: float | None = None, t_to: float | None = None) -> list[Together]:
    """Moments where all `names` are on screen at once, within the glob and the time window; each
    path as the catalog knows it (moves)."""
    with open_people(svc.settings) as people:
        found = together(people, names)
    allowed = svc.video_ids_matching(path_glob)
    keep = set(allowed) if allowed is not None else None
    out = []
    for m in found:
        if keep is not None and m.video_id not in keep:
            continue
        if (t_from is not None and m.end < t_from) or (t_to is not None and m.start > t_to):
            continue
        rec = svc.catalog.get_by_video_id(m.video_id)
        if rec is not None and rec.path != m.path:
            m = Together(m.video_id, rec.path, m.start, m.end, m.people, m.strips)
        out.append(m)
    return out


def who_out(m: Together) -> WhoOut:
    return WhoOut(people=list(m.people),
                  strips={k: [SpanOut(start=s.start, end=s.end) for s in v] for k, v in m.strips.items()})


def who_answer(svc: SearchService, a: SearchArgs) -> ChannelAnswer:
    """Moments where the people asked for (or named in the query) are on screen together."""
    asked = list(a.people)
    if not svc.settings.channels.people.enabled:
        if asked:
            raise PeopleOff(OFF)
        return ChannelAnswer(WHO, ChannelMatch(match="none", message=f"who: {OFF}"), silent=True)
    if not asked:
        with open_people(svc.settings) as people:
            asked = named_in(a.query, [p.name for p in people.db.people() if p.name])
        if not asked:
            return ChannelAnswer(WHO, ChannelMatch(match="none", message="who: the query names no known person"),
                                 silent=True)
    found = together_in(svc, asked, a.path_glob, a.t_from, a.t_to)[:a.limit]
    moments = []
    for k, m in enumerate(found):
        mid = round((m.start + m.end) / 2, 3)
        moments.append(MomentOut(rank=k + 1, video_id=m.video_id, path=m.path, name=m.path.rsplit("/", 1)[-1],
                                 start=m.start, end=m.end, peak=mid, score=1.0, z=0.0, frames=0, thumbnail=None,
                                 uri=file_uri(m.path, m.start, m.end), channels=[WHO], who=who_out(m)))
    who = " and ".join(asked)
    if moments:
        verdict = ChannelMatch(match="good", message=(
            f"who: {who} on screen{' together' if len(asked) > 1 else ''} in {len(found)} moment(s)"))
    else:
        verdict = ChannelMatch(match="none", message=(
            f"who: {who} never on screen together" if len(asked) > 1 else f"who: {who} not found in these videos"))
    return ChannelAnswer(WHO, verdict, moments, [2] * len(moments))


def with_frames(svc: SearchService, items: list[_M]) -> list[_M]:
    """A `who` moment or scene found by faces alone has no picture frame: give it the indexed
    frame at its peak as its thumbnail (what the assistant looks at), where this machine has one."""
    out = []
    for m in items:
        if m.thumbnail is None and m.who is not None:
            # another machine's file, or no frame there: no thumbnail, as for a said moment
            with contextlib.suppress(QueryError):
                m = m.model_copy(update={"thumbnail": svc.frame(m.video_id, m.peak).thumbnail})
        out.append(m)
    return out


def check_people(people: list[str] | None, limit: int = 8) -> list[str]:
    wanted = list(dict.fromkeys(" ".join(str(n).split()) for n in (people or []) if str(n).strip()))
    if len(wanted) > limit:
        raise QueryError(f"at most {limit} people at once")
    return wanted
