"""The text channel's read side for search_footage: moments where the query is written on screen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...inputs import QueryError, file_uri
from ...models import ChannelMatch, MomentOut, WrittenOut
from ..answer import ChannelAnswer, SearchArgs
from ..base import WRITTEN
from ..registry import build
from ..state import ChannelStates
from .channel import TextChannel
from .match import TextMatch, match_text, words
from .store import Line, text_lines

if TYPE_CHECKING:
    from ...query.search import SearchService

GOOD = 0.75  # a phrase match scoring this (all words, at most small OCR slips) is a good match


@dataclass(frozen=True)
class WrittenHit:
    line: Line
    match: TextMatch

    @property
    def strength(self) -> int:
        """2: the query's words side by side (a phrase); 1: at least half of them in the line."""
        if self.match.phrase and self.match.score >= GOOD:
            return 2
        return 1 if self.match.phrase or self.match.score >= 0.25 else 0


def find_written(lines: list[Line], query: str, video_ids: list[str] | None, t_from: float | None,
                 t_to: float | None) -> list[WrittenHit]:
    """Lines matching the query, best first (score, then the reading's confidence, then time)."""
    keep = set(video_ids) if video_ids is not None else None
    hits = []
    for ln in lines:
        r = ln.record
        if (keep is not None and ln.video_id not in keep) or (t_from is not None and r.t_end <= t_from) or (
                t_to is not None and r.t_start >= t_to):
            continue
        m = match_text(query, r.text)
        if m is not None:
            hits.append(WrittenHit(ln, m))
    hits.sort(key=lambda h: (-h.match.score, -h.line.record.confidence, h.line.record.t_start))
    return hits


def written_answer(svc: SearchService, a: SearchArgs) -> ChannelAnswer:
    """Moments where the query is on screen (MomentOut with `written` filled)."""
    ch = build(svc.settings, "text")
    assert isinstance(ch, TextChannel)
    if not ch.enabled:
        raise QueryError("the text channel is disabled (channels.text.enabled = false): search what is seen")
    if not words(a.query):
        raise QueryError("the query has no words to look for in on-screen text")
    lines = text_lines(svc.store, ch.prefix, ch.identity, ch.where).lines()
    hits = find_written(lines, a.query, svc.video_ids_matching(a.path_glob), a.t_from, a.t_to)
    hits = [h for h in hits if h.strength > 0][:a.limit]
    moments = [_moment(svc, k + 1, h) for k, h in enumerate(hits)]
    return ChannelAnswer(WRITTEN, written_verdict(svc, ch, a.query, hits, moments), moments,
                         [h.strength for h in hits])


def _moment(svc: SearchService, rank: int, h: WrittenHit) -> MomentOut:
    rec = svc.catalog.get_by_video_id(h.line.video_id)
    path = rec.path if rec is not None else h.line.path  # the catalog knows moves; the store's path may lag
    r = h.line.record
    start, end = round(r.t_start, 3), round(r.t_end, 3)
    return MomentOut(rank=rank, video_id=h.line.video_id, path=path, name=path.rsplit("/", 1)[-1], start=start,
                     end=end, peak=start, score=round(h.match.score, 4), z=0.0, frames=0, thumbnail=None,
                     uri=file_uri(path, start, end), channels=[WRITTEN],
                     written=WrittenOut(text=r.text, box=[round(v, 4) for v in r.box], start=start, end=end,
                                        confidence=round(r.confidence, 4), phrase=h.match.phrase))


def written_verdict(svc: SearchService, ch: TextChannel, query: str, hits: list[WrittenHit],
                    moments: list[MomentOut]) -> ChannelMatch:
    c = ChannelStates(svc.catalog, ch.name).counts(ch.identity)
    left = c["pending"] + c["indexing"]
    waiting = f"; {left} file(s) not read yet" if left else ""
    good = [m for h, m in zip(hits, moments, strict=True) if h.strength == 2]
    if good:
        m = good[0]
        return ChannelMatch(match="good", message=(
            f"written: '{query.strip()}' is on screen at {m.start:.1f}-{m.end:.1f} s in {m.name} "
            f"(\"{m.written.text[:120] if m.written else ''}\"; {len(good)} moment(s))"))
    if moments and moments[0].written is not None:
        return ChannelMatch(match="weak", message=(
            f"written: only some of the words are on screen together (best: \"{moments[0].written.text[:120]}\")"
            f"{waiting}"))
    return ChannelMatch(match="none", message=(
        f"written: not found in the on-screen text of {c['indexed']} file(s) read{waiting}"))
