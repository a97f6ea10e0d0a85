"""The people channel's operations for the CLI, the MCP tools and the viewer (one place, thin callers).

Every function takes the Settings and opens the people tables in the data dir for the call
(SQLite: safe beside the service's writer, see people_db.PeopleDB). A disabled channel answers
`PeopleOff` (a QueryError: the callers show it as a clear message) and shows nothing: disabling
it hides its results until `reelfind forget --channel people` deletes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...config import Settings
from ...inputs import QueryError
from ...models import FaceOut, FacesOut, PeopleOut, PersonOut, SpanOut
from .channel import DB_NAME
from .grouping import People
from .people_db import PeopleDB, PeopleError, Person
from .query import appearances

MAX_LIST = 1000  # people in one answer
MAX_FACES = 50  # faces on one frame


class PeopleOff(QueryError):
    """The people channel is disabled: nothing is found, listed or changed."""


OFF = ("the people channel is off (channels.people.enabled = false): no faces are found, listed or "
       "searched; `reelfind forget --channel people` deletes what was stored")


def db_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / DB_NAME


@contextmanager
def open_people(settings: Settings) -> Iterator[People]:
    """The people tables of this data dir. A PeopleError becomes a QueryError (a clear message)."""
    if not settings.channels.people.enabled:
        raise PeopleOff(OFF)
    path = db_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = PeopleDB(path)
    try:
        yield People(db, settings.channels.people.match_threshold)
    except PeopleError as e:
        raise QueryError(str(e)) from None
    finally:
        db.close()


def person_ref(people: People, ref: str | int) -> Person:
    """A person by id (12), label ('Person 12') or name (any case); unknown: the closest names."""
    s = str(ref).strip()
    if s.isdigit():
        return people.db.person(int(s))
    return people.resolve(s)


def _out(people: People, p: Person) -> PersonOut:
    rows = people.db.tracks("WHERE person_id = ?", p.id)
    best = max(rows, key=lambda r: r.quality, default=None)
    return PersonOut(id=p.id, name=p.name, label=p.label, tracks=p.tracks,
                     videos=len({r.video_id for r in rows}),
                     seconds=round(sum(r.end - r.start for r in rows), 2),
                     face_track=best.id if best else None, first_seen=rows[0].path if rows else None)


def list_people(settings: Settings, named_only: bool = False, limit: int = 200, offset: int = 0) -> PeopleOut:
    """Everyone found: named people first, then unnamed by how much they are on screen."""
    if not settings.channels.people.enabled:
        return PeopleOut(enabled=False, message=OFF, total=0, people=[])
    limit = max(1, min(int(limit), MAX_LIST))
    with open_people(settings) as people:
        everyone = [_out(people, p) for p in people.db.people() if p.name or not named_only]
    everyone.sort(key=lambda o: (o.name is None, (o.name or "").lower(), -o.seconds, o.id))
    page = everyone[max(0, offset):max(0, offset) + limit]
    named = sum(1 for o in everyone if o.name)
    msg = (f"{len(everyone)} people found ({named} named). Name someone with name_person(person, name); "
           "search with search_footage(query, people=[...]) or find_scenes(people=[...])."
           if everyone else "no faces found yet (the people pass runs after a file is searchable by picture)")
    return PeopleOut(enabled=True, message=msg, total=len(everyone), people=page)


def name_person(settings: Settings, person: str | int, name: str) -> PersonOut:
    """Name (or rename) a person; its faces are confirmed as this person (see grouping.People.name)."""
    with open_people(settings) as people:
        p = people.name(person_ref(people, person).id, name)
        return _out(people, p)


def merge_people(settings: Settings, keep: str | int, other: str | int, drop_name: bool = False) -> PersonOut:
    with open_people(settings) as people:
        a, b = person_ref(people, keep), person_ref(people, other)
        return _out(people, people.merge(a.id, b.id, drop_name))


def split_track(settings: Settings, track: int) -> PersonOut:
    """One face track out of its person into a new one (the grouping put two people together)."""
    with open_people(settings) as people:
        return _out(people, people.split(int(track)))


def person_tracks(settings: Settings, person: str | int) -> list[FaceOut]:
    with open_people(settings) as people:
        p = person_ref(people, person)
        return [_face(r.id, p.id, p.label, r.video_id, r.path, r.start, r.end, r.box)
                for r in people.db.tracks("WHERE person_id = ?", p.id)]


def _face(track: int, pid: int | None, label: str, video_id: str, path: str, start: float, end: float,
          box: tuple[int, ...]) -> FaceOut:
    return FaceOut(track=track, person_id=pid, label=label, video_id=video_id, path=path,
                   start=round(start, 3), end=round(end, 3), box=[int(x) for x in box])


def faces_at(settings: Settings, video_id: str, t: float, window: float = 1.0) -> FacesOut:
    """The faces on screen at `t` in a video: each track within `window` seconds of it, with its box
    at the nearest sample. `window` is half the gap query.appearances bridges (a face missed on a
    sample or two is still on screen), so the faces shown agree with the people's strips and with
    find_scenes(people=...)."""
    with open_people(settings) as people:
        labels = {p.id: p.label for p in people.db.people()}
        rows = people.db.tracks("WHERE video_id = ? AND start <= ? AND end >= ?", video_id, t + window, t - window)
        out = []
        for r in rows[:MAX_FACES]:
            box = people.db.box_at(r.id, t) or r.box
            out.append(_face(r.id, r.person_id, labels.get(r.person_id or -1, "unknown"), r.video_id, r.path,
                             r.start, r.end, box))
    return FacesOut(faces=out)


def strip(settings: Settings, person: str | int, video_id: str) -> list[SpanOut]:
    """A person's appearances across one video (its heat strip)."""
    with open_people(settings) as people:
        p = person_ref(people, person)
        got = appearances(people.db, p.id).get(video_id)
    return [SpanOut(start=s.start, end=s.end) for s in (got[1] if got else [])]


def crop(settings: Settings, track: int) -> bytes:
    """A track's face crop (JPEG), from the people tables: never a path from the caller."""
    with open_people(settings) as people:
        return people.db.crop(int(track))
