"""The read side of the people channel: where a person appears, and where people are together.

A person's appearances in a video are its tracks' time spans, each padded by `pad` (half a sample
interval: a face seen on one sample was on screen around it) and merged across gaps shorter than
`gap` (a missed detection or a turned head does not end an appearance). "Together" is the
intersection of every asked person's appearances in the same video: the moments for
`find_scenes(people=[...])`, with each person's appearances in that video for its heat strip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .grouping import People
from .people_db import PeopleDB, PeopleError, Person

MAX_PEOPLE = 8  # people asked for at once


@dataclass(frozen=True)
class Span:
    start: float
    end: float


@dataclass(frozen=True)
class Together:
    video_id: str
    path: str
    start: float
    end: float
    people: tuple[str, ...]
    strips: dict[str, tuple[Span, ...]]  # label -> that person's appearances in this video


def merge_spans(spans: Sequence[tuple[float, float]], gap: float, pad: float) -> list[Span]:
    out: list[list[float]] = []
    for s, e in sorted((max(0.0, s - pad), e + pad) for s, e in spans):
        if out and s - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [Span(round(s, 3), round(e, 3)) for s, e in out]


def appearances(db: PeopleDB, person_id: int, gap: float = 2.0, pad: float = 0.25,
                ) -> dict[str, tuple[str, list[Span]]]:
    """video_id -> (path, the person's merged appearances there)."""
    by: dict[str, tuple[str, list[tuple[float, float]]]] = {}
    for t in db.tracks("WHERE person_id = ?", person_id):
        by.setdefault(t.video_id, (t.path, []))[1].append((t.start, t.end))
    return {v: (path, merge_spans(sp, gap, pad)) for v, (path, sp) in by.items()}


def _intersect(a: list[Span], b: list[Span]) -> list[Span]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if s < e:
            out.append(Span(s, e))
        if a[i].end < b[j].end:
            i += 1
        else:
            j += 1
    return out


def together(people: People, names: Sequence[str], gap: float = 2.0, pad: float = 0.25) -> list[Together]:
    """Moments where every named person is on screen at once, longest first. An unknown name
    raises PeopleError naming the closest known names."""
    wanted = list(dict.fromkeys(" ".join(str(n).split()) for n in names))
    if not wanted:
        raise PeopleError("name at least one person (list_people shows who is known)")
    if len(wanted) > MAX_PEOPLE:
        raise PeopleError(f"at most {MAX_PEOPLE} people at once")
    persons: list[Person] = [people.resolve(n) for n in wanted]
    seen = [appearances(people.db, p.id, gap, pad) for p in persons]
    videos = set(seen[0]).intersection(*seen[1:])
    out: list[Together] = []
    for vid in videos:
        common = seen[0][vid][1]
        for s in seen[1:]:
            common = _intersect(common, s[vid][1])
        strips = {p.label: tuple(s[vid][1]) for p, s in zip(persons, seen, strict=True)}
        out += [Together(vid, seen[0][vid][0], c.start, c.end, tuple(p.label for p in persons), strips)
                for c in common]
    out.sort(key=lambda m: (-(m.end - m.start), m.path, m.start))
    return out
