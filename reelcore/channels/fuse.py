"""The read side across channels: one ranked list of moments, each saying which channels support it.

`search_channels` asks the visual channel (the picture: SearchService.search) and each other
channel asked for (its searcher: speech/answer.py for what is said, ...) and fuses their moments:
a moment of another channel that overlaps one already in the list in the same video (within
query.merge_gap) joins it. Ranking: a moment's strongest channel verdict first (good > weak >
none, each channel judged on its own terms: z against the query's background for 'seen', all
words said as a phrase for 'said', written as a phrase for 'written'), then the number of channels that support it, then
reciprocal-rank fusion of its ranks. The answer's verdict is the best channel's, and `channels`
keeps each channel's own verdict so 'none' stays honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..inputs import QueryError, file_uri
from ..models import ChannelMatch, MomentOut, SearchOut
from ..query.scoring import WEAK_Z
from .answer import ChannelAnswer, SearchArgs, Searcher
from .base import SAID, SEEN, WHO, WRITTEN
from .people.answer import check_people, who_answer, with_frames
from .registry import all_channels
from .speech.answer import said_answer
from .state import ChannelStates
from .text.answer import written_answer

if TYPE_CHECKING:
    from ..query.search import SearchService

# evidence -> its searcher, in the order the channels' moments join the list (seen comes first).
SEARCHERS: dict[str, Searcher] = {SAID: said_answer, WRITTEN: written_answer, WHO: who_answer}
CHANNEL_NAMES = (SEEN, *SEARCHERS)
_STRENGTH = {"good": 2, "weak": 1, "none": 0}
RRF_K = 10


def _seen_strength(m: MomentOut, good_z: float) -> int:
    return 2 if m.z >= good_z else 1 if m.z >= WEAK_Z else 0


def fuse(seen: SearchOut | None, answers: Sequence[ChannelAnswer], gap: float, limit: int) -> list[MomentOut]:
    """Seen moments and the other channels' as one ranked list (see the module docstring)."""
    good_z = seen.background.good_z if seen is not None and seen.background is not None else 3.0
    merged = [m.model_copy(update={"channels": [SEEN]}) for m in (seen.moments if seen else [])]
    strength: dict[int, int] = {id(m): _seen_strength(m, good_z) for m in merged}
    rrf: dict[int, float] = {id(m): 1.0 / (RRF_K + m.rank) for m in merged}
    for ans in answers:
        ev = ans.evidence
        for sm, st in zip(ans.moments, ans.strengths, strict=True):
            host = next((m for m in merged if m.video_id == sm.video_id and ev not in m.channels
                         and m.start - gap <= sm.end and sm.start <= m.end + gap), None)
            if host is None:
                sm = sm.model_copy(update={"channels": [ev]})
                merged.append(sm)
                strength[id(sm)], rrf[id(sm)] = st, 1.0 / (RRF_K + sm.rank)
                continue
            host.channels = [*host.channels, ev]
            setattr(host, ev, getattr(sm, ev))
            # The moment covers all its evidence: where it is seen and where it is said (the quote's
            # times must lie inside the moment the assistant, the CLI and an export hand on).
            host.start, host.end = min(host.start, sm.start), max(host.end, sm.end)
            host.uri = file_uri(host.path, host.start, host.end)
            if st > strength[id(host)]:  # this channel is the stronger evidence: play from it
                host.peak = sm.peak
            strength[id(host)] = max(strength[id(host)], st)
            rrf[id(host)] += 1.0 / (RRF_K + sm.rank)
    merged.sort(key=lambda m: (strength[id(m)], len(m.channels), rrf[id(m)]), reverse=True)
    return [m.model_copy(update={"rank": k + 1}) for k, m in enumerate(merged[:limit])]


def _with_done(svc: SearchService, moments: list[MomentOut]) -> list[MomentOut]:
    """Each moment says which channels are done for its file (another machine's file: what it stored)."""
    channels = [c for c in all_channels(svc.settings) if c.enabled]
    out = []
    for m in moments:
        rec = svc.catalog.get_by_video_id(m.video_id)
        if rec is None:
            done = list(dict.fromkeys([SEEN, *m.channels]))
        else:
            done = [SEEN] if rec.state == "indexed" else []
            for ch in channels:
                st = ChannelStates(svc.catalog, ch.name).get(rec.video_id)
                if st is not None and st.identity == ch.identity and st.state == "indexed":
                    done.append(ch.evidence)
        out.append(m.model_copy(update={"indexed_channels": done}))
    return out


def enabled_evidence(svc: SearchService) -> list[str]:
    """The evidence names a search asks by default: seen, and each enabled channel's that can search."""
    on = {c.evidence for c in all_channels(svc.settings) if c.enabled}
    return [SEEN, *(ev for ev in SEARCHERS if ev in on)]


def search_channels(svc: SearchService, query: str, channels: Sequence[str] | None = None, limit: int = 10,
                    path_glob: str | None = None, min_score: float | None = None, exclude: str | None = None,
                    t_from: float | None = None, t_to: float | None = None,
                    people: Sequence[str] | None = None) -> SearchOut:
    """`search_footage` over the channels asked for (default: every enabled one). `people`: only
    moments where all of them are on screen together (the `who` channel narrows the others)."""
    limit = svc.check_limit(limit)
    asked = check_people(list(people or []))
    wanted = list(dict.fromkeys(channels or ()))
    bad = [c for c in wanted if c not in CHANNEL_NAMES]
    if bad:
        raise QueryError(f"unknown channel(s) {bad}: use {list(CHANNEL_NAMES)}")
    if not wanted:
        wanted = enabled_evidence(svc)
    if asked and WHO not in wanted:
        wanted.append(WHO)
    # narrowed by people: ask the other channels for more, as most of their moments will not hold them
    pool = svc.settings.query.max_limit if asked else limit
    seen = svc.search(query, pool, path_glob, min_score, exclude, t_from, t_to) if SEEN in wanted else None
    if wanted == [SEEN]:
        return seen  # type: ignore[return-value]  # the picture only: exactly today's answer
    args = SearchArgs(svc.check_query(query), pool, path_glob, t_from, t_to, tuple(asked))
    answers = [SEARCHERS[ev](svc, args) for ev in SEARCHERS if ev in wanted]
    verdicts: dict[str, ChannelMatch] = {}
    if seen is not None:
        verdicts[SEEN] = ChannelMatch(match=seen.match, message=seen.message)
    for ans in answers:
        if not ans.silent:
            verdicts[ans.evidence] = ans.verdict
    if not verdicts:  # only silent channels were asked (e.g. channels=["who"], naming nobody)
        verdicts = {a.evidence: a.verdict for a in answers}
    fused = fuse(seen, answers, svc.settings.query.merge_gap, pool)
    if asked:  # only where the people are; `who` is then a condition, not what the query is judged on
        fused = [m.model_copy(update={"rank": k + 1}) for k, m in enumerate(x for x in fused if WHO in x.channels)]
    moments = _with_done(svc, with_frames(svc, fused[:limit]))
    judged = {k: v for k, v in verdicts.items() if not asked or k != WHO or len(verdicts) == 1}
    best = max(judged.values(), key=lambda v: _STRENGTH[v.match])
    if asked and not moments:
        best = ChannelMatch(match="none", message="")
    # Strongest channel first (the picture's sentence as today when it leads), a later picture
    # sentence labelled "seen:", so the verdict ("good match: said: ...") is never followed by
    # another channel's "no good match" as if it were the same finding.
    ordered = sorted(verdicts.items(), key=lambda kv: _STRENGTH[kv[1].match], reverse=True)
    message = " ".join(v.message if name != SEEN or k == 0 else f"seen: {v.message}"
                       for k, (name, v) in enumerate(ordered))
    return SearchOut(query=query.strip(), exclude=(exclude or "").strip() or None, match=best.match,
                     message=message, best_z=seen.best_z if seen else None,
                     background=seen.background if seen else None, moments=moments, channels=verdicts)
