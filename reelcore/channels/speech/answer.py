"""The speech channel's read side for search_footage: moments where the query is said, and its verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...inputs import QueryError, file_uri
from ...models import ChannelMatch, MomentOut, SaidOut, WordOut
from ..answer import ChannelAnswer, SearchArgs
from ..base import SAID
from ..state import ChannelStates
from .channel import SpeechChannel
from .match import SaidHit
from .reader import SaidResult, speech_index

if TYPE_CHECKING:
    from ...query.search import SearchService


def said_answer(svc: SearchService, a: SearchArgs) -> ChannelAnswer:
    """Moments where the query is said (MomentOut with `said` filled), judged as a phrase."""
    ch = SpeechChannel(svc.settings)
    if not ch.enabled:
        raise QueryError("the speech channel is disabled (channels.speech.enabled = false): search what is seen")
    idx = speech_index(svc.settings, svc.store, ch.identity)
    res = idx.search(a.query, svc.video_ids_matching(a.path_glob), a.t_from, a.t_to, a.limit)
    moments = [_said_moment(svc, k + 1, h) for k, h in enumerate(res.hits)]
    return ChannelAnswer(SAID, said_verdict(svc, ch, a.query, res), moments,
                         [_strength(m, len(res.words)) for m in moments])


def _said_moment(svc: SearchService, rank: int, h: SaidHit) -> MomentOut:
    rec = svc.catalog.get_by_video_id(h.video_id)
    path = rec.path if rec is not None else h.path  # the catalog knows moves; the store's path may lag
    s = h.segment
    start, end = round(s.start, 3), round(s.end, 3)
    peak = round(h.words[0].start, 3) if h.words else start
    return MomentOut(rank=rank, video_id=h.video_id, path=path, name=path.rsplit("/", 1)[-1], start=start,
                     end=end, peak=peak, score=round(h.score, 4), z=0.0, frames=0, thumbnail=None,
                     uri=file_uri(path, start, end), channels=[SAID], said=said_out(h))


def said_out(h: SaidHit) -> SaidOut:
    s = h.segment
    return SaidOut(text=s.text, start=s.start, end=s.end, language=s.language, source=s.source,
                   words=[WordOut(word=w.word, start=w.start, end=w.end, approx=w.approx) for w in h.words],
                   coverage=h.coverage, phrase=h.phrase)


def said_verdict(svc: SearchService, ch: SpeechChannel, query: str, res: SaidResult) -> ChannelMatch:
    c = ChannelStates(svc.catalog, ch.name).counts(ch.identity)
    waiting = f"; {c['pending'] + c['indexing']} file(s) not transcribed yet" if c["pending"] + c["indexing"] else ""
    if res.match == "good" and res.hits:
        h = res.hits[0]
        return ChannelMatch(match="good", message=(
            f"said: '{query.strip()}' is said ({len([x for x in res.hits if x.coverage >= 1])} moment(s); best "
            f"at {h.start:.1f} s: \"{h.segment.text[:120]}\")"))
    if res.match == "weak" and res.hits:
        return ChannelMatch(match="weak", message=(
            f"said: only some of the words are said together (best has {res.hits[0].coverage:.0%} of them){waiting}"))
    return ChannelMatch(match="none", message=(
        f"said: not said in the transcripts of {c['indexed']} file(s) with speech indexed{waiting}"))


def _strength(m: MomentOut, nwords: int) -> int:
    s = m.said
    if s is None:
        return 0
    if s.coverage >= 1.0 and (s.phrase or nwords == 1):
        return 2
    return 1 if s.coverage >= 0.5 else 0
