"""The read side across channels: one ranked list of moments, each saying which channels support it.

`search_channels` asks the visual channel (the picture: SearchService.search) and the speech
channel (what is said: speech/reader.py) and fuses their moments: a said moment that overlaps a
seen one in the same video (within query.merge_gap) joins it. Ranking: a moment's strongest
channel verdict first (good > weak > none, each channel judged on its own terms: z against the
query's background for 'seen', all words said as a phrase for 'said'), then the number of
channels that support it, then reciprocal-rank fusion of its ranks. The answer's verdict is the
best channel's, and `channels` keeps each channel's own verdict so 'none' stays honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..inputs import QueryError, file_uri
from ..models import ChannelMatch, MomentOut, SaidOut, SearchOut, WordOut
from ..scoring import WEAK_Z
from .base import SAID, SEEN
from .speech.match import SaidHit
from .speech.reader import SaidResult, speech_index
from .state import ChannelStates

if TYPE_CHECKING:
    from ..search import SearchService

CHANNEL_NAMES = (SEEN, SAID)
_STRENGTH = {"good": 2, "weak": 1, "none": 0}
RRF_K = 10


def said_search(svc: SearchService, query: str, limit: int, path_glob: str | None,
                t_from: float | None, t_to: float | None) -> tuple[SaidResult, list[MomentOut]]:
    """Moments where the query is said (speech channel), as MomentOut with `said` filled."""
    from .speech.channel import SpeechChannel

    ch = SpeechChannel(svc.settings)
    if not ch.enabled:
        raise QueryError("the speech channel is disabled (channels.speech.enabled = false): search what is seen")
    idx = speech_index(svc.settings, svc.store, ch.identity)
    res = idx.search(svc.check_query(query), svc.video_ids_matching(path_glob), t_from, t_to, limit)
    return res, [_said_moment(svc, k + 1, h, res) for k, h in enumerate(res.hits)]


def _said_moment(svc: SearchService, rank: int, h: SaidHit, res: SaidResult) -> MomentOut:
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


def said_verdict(svc: SearchService, query: str, res: SaidResult) -> ChannelMatch:
    from .speech.channel import SpeechChannel

    ch = SpeechChannel(svc.settings)
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


def _seen_strength(m: MomentOut, good_z: float) -> int:
    return 2 if m.z >= good_z else 1 if m.z >= WEAK_Z else 0


def _said_strength(m: MomentOut, nwords: int) -> int:
    s = m.said
    if s is None:
        return 0
    if s.coverage >= 1.0 and (s.phrase or nwords == 1):
        return 2
    return 1 if s.coverage >= 0.5 else 0


def fuse(seen: SearchOut | None, said: list[MomentOut], said_words: int, gap: float,
         limit: int) -> list[MomentOut]:
    """Seen and said moments as one ranked list (see the module docstring)."""
    good_z = seen.background.good_z if seen is not None and seen.background is not None else 3.0
    seen_ms = [m.model_copy(update={"channels": [SEEN]}) for m in (seen.moments if seen else [])]
    strength: dict[int, int] = {id(m): _seen_strength(m, good_z) for m in seen_ms}
    rrf: dict[int, float] = {id(m): 1.0 / (RRF_K + m.rank) for m in seen_ms}
    merged = list(seen_ms)
    for sm in said:
        host = next((m for m in seen_ms if m.video_id == sm.video_id and SAID not in m.channels
                     and m.start - gap <= sm.end and sm.start <= m.end + gap), None)
        st = _said_strength(sm, said_words)
        if host is None:
            merged.append(sm)
            strength[id(sm)], rrf[id(sm)] = st, 1.0 / (RRF_K + sm.rank)
            continue
        host.channels = [SEEN, SAID]
        host.said = sm.said
        # The moment covers both: where it is seen and where it is said (the quote's times must
        # lie inside the moment the assistant, the CLI and an export hand on).
        host.start, host.end = min(host.start, sm.start), max(host.end, sm.end)
        host.uri = file_uri(host.path, host.start, host.end)
        if st > strength[id(host)]:  # the words are the stronger evidence: play from them
            host.peak = sm.peak
        strength[id(host)] = max(strength[id(host)], st)
        rrf[id(host)] += 1.0 / (RRF_K + sm.rank)
    merged.sort(key=lambda m: (strength[id(m)], len(m.channels), rrf[id(m)]), reverse=True)
    return [m.model_copy(update={"rank": k + 1}) for k, m in enumerate(merged[:limit])]


def _with_done(svc: SearchService, moments: list[MomentOut]) -> list[MomentOut]:
    """Each moment says which channels are done for its file (another machine's file: what it stored)."""
    from .speech.channel import SpeechChannel

    ch = SpeechChannel(svc.settings)
    out = []
    for m in moments:
        rec = svc.catalog.get_by_video_id(m.video_id)
        if rec is None:
            done = list(dict.fromkeys([SEEN, *m.channels]))
        else:
            st = ChannelStates(svc.catalog, ch.name).get(rec.video_id)
            done = ([SEEN] if rec.state == "indexed" else []) + (
                [SAID] if st is not None and st.identity == ch.identity and st.state == "indexed" else [])
        out.append(m.model_copy(update={"indexed_channels": done}))
    return out


def search_channels(svc: SearchService, query: str, channels: Sequence[str] | None = None, limit: int = 10,
                    path_glob: str | None = None, min_score: float | None = None, exclude: str | None = None,
                    t_from: float | None = None, t_to: float | None = None) -> SearchOut:
    """`search_footage` over the channels asked for (default: every enabled one)."""
    from .speech.channel import SpeechChannel

    limit = svc.check_limit(limit)
    wanted = list(dict.fromkeys(channels or ()))
    bad = [c for c in wanted if c not in CHANNEL_NAMES]
    if bad:
        raise QueryError(f"unknown channel(s) {bad}: use {list(CHANNEL_NAMES)}")
    speech_on = SpeechChannel(svc.settings).enabled
    if not wanted:
        wanted = [SEEN, SAID] if speech_on else [SEEN]
    seen = svc.search(query, limit, path_glob, min_score, exclude, t_from, t_to) if SEEN in wanted else None
    if SAID not in wanted:
        return seen  # type: ignore[return-value]  # the picture only: exactly today's answer
    res, said = said_search(svc, query, limit, path_glob, t_from, t_to)
    verdicts: dict[str, ChannelMatch] = {}
    if seen is not None:
        verdicts[SEEN] = ChannelMatch(match=seen.match, message=seen.message)
    verdicts[SAID] = said_verdict(svc, query, res)
    moments = _with_done(svc, fuse(seen, said, len(res.words), svc.settings.query.merge_gap, limit))
    best = max(verdicts.values(), key=lambda v: _STRENGTH[v.match])
    # Strongest channel first (the picture's sentence as today when it leads), a later picture
    # sentence labelled "seen:", so the verdict ("good match: said: ...") is never followed by
    # another channel's "no good match" as if it were the same finding.
    ordered = sorted(verdicts.items(), key=lambda kv: _STRENGTH[kv[1].match], reverse=True)
    message = " ".join(v.message if name == SAID or k == 0 else f"seen: {v.message}"
                       for k, (name, v) in enumerate(ordered))
    return SearchOut(query=query.strip(), exclude=(exclude or "").strip() or None, match=best.match,
                     message=message, best_z=seen.best_z if seen else None,
                     background=seen.background if seen else None, moments=moments, channels=verdicts)
