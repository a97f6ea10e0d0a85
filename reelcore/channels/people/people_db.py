"""People, their names and their face tracks in SQLite, with versioned migrations.

Names are the user's data: every change is one transaction, nothing here deletes a named person
(grouping.py only ever moves tracks away from unnamed ones), and `MIGRATIONS` only ever add. The
tables are prefixed so the coordinator can fold `MIGRATIONS` into the catalog's own database; until
then the channel keeps them in their own file (`people.sqlite3` in the data dir).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...storage.sqlitetx import connect, write_transaction
from .tracks import FaceTrack

SCHEMA_VERSION = 1
MAX_NAME = 120

# version -> statements. Append a new version; never edit a released one.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS people_schema (version INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "name TEXT UNIQUE COLLATE NOCASE, created_at REAL NOT NULL, named_at REAL, anchor BLOB)",
        "CREATE TABLE IF NOT EXISTS face_tracks (id INTEGER PRIMARY KEY AUTOINCREMENT, video_id TEXT NOT NULL, "
        "path TEXT NOT NULL, identity TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL, frames INTEGER NOT NULL, "
        "best_t REAL NOT NULL, box TEXT NOT NULL, quality REAL NOT NULL, vector BLOB NOT NULL, crop BLOB NOT NULL, "
        "boxes TEXT NOT NULL, person_id INTEGER REFERENCES people(id), pinned INTEGER NOT NULL DEFAULT 0, "
        "created_at REAL NOT NULL)",
        "CREATE INDEX IF NOT EXISTS face_tracks_video ON face_tracks(video_id)",
        "CREATE INDEX IF NOT EXISTS face_tracks_person ON face_tracks(person_id)",
    ),
}


class PeopleError(Exception):
    """A people operation that cannot be done (unknown person, name taken...): nothing changed."""


@dataclass(frozen=True)
class Person:
    id: int
    name: str | None
    tracks: int

    @property
    def label(self) -> str:
        return self.name or f"Person {self.id}"


@dataclass(frozen=True)
class TrackRow:
    id: int
    video_id: str
    path: str
    start: float
    end: float
    box: tuple[int, int, int, int]
    quality: float
    vector: np.ndarray
    person_id: int | None
    pinned: bool


def migrate(db: sqlite3.Connection) -> int:
    """Bring the people tables to SCHEMA_VERSION in one transaction (the caller's, when it holds one);
    returns the version found."""
    if db.in_transaction:
        return _migrate(db)
    with db:
        return _migrate(db)


def _migrate(db: sqlite3.Connection) -> int:
    db.execute(MIGRATIONS[1][0])
    row = db.execute("SELECT version FROM people_schema").fetchone()
    found = row[0] if row else 0
    if found > SCHEMA_VERSION:
        raise PeopleError(f"people tables are version {found}, newer than this reelfind ({SCHEMA_VERSION})")
    for v in range(found + 1, SCHEMA_VERSION + 1):
        for sql in MIGRATIONS[v]:
            db.execute(sql)
    if row is None:
        db.execute("INSERT INTO people_schema (version) VALUES (?)", (SCHEMA_VERSION,))
    else:
        db.execute("UPDATE people_schema SET version = ?", (SCHEMA_VERSION,))
    return found


def clean_name(name: str) -> str:
    n = " ".join(str(name).split())
    if not n:
        raise PeopleError("a name cannot be empty")
    if len(n) > MAX_NAME:
        raise PeopleError(f"a name has at most {MAX_NAME} characters")
    if n.lower().startswith("person ") and n[7:].strip().isdigit():
        raise PeopleError(f"'{n}' looks like an automatic label: choose a real name")
    return n




class PeopleDB:
    """The people tables. Thread-safe (one connection, one lock).

    Several processes may write at once: the service (a file's pass) and `reelfind people` or the
    viewer (the user's names, merges, splits). WAL lets readers go on beside a writer, and every
    write is one `BEGIN IMMEDIATE` transaction (`tx`): it takes SQLite's write lock before it
    reads what it will change, so two writers queue (up to sqlitetx.BUSY_TIMEOUT) instead of one acting on
    a state the other is changing. No lock file or hand-off to the service is needed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self.db = connect(self.path)
        self.db.execute("PRAGMA foreign_keys = ON")
        if self._version() != SCHEMA_VERSION:  # a read first: opening for a query takes no write lock
            with self.tx() as db:
                migrate(db)

    def _version(self) -> int | None:
        try:
            row = self.db.execute("SELECT version FROM people_schema").fetchone()
        except sqlite3.OperationalError:  # no tables yet
            return None
        return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (re-entrant in a thread: an inner `tx` joins the outer one)."""
        with self._lock:
            if self.db.in_transaction:
                yield self.db
                return
            with write_transaction(self.db) as db:
                yield db

    # ------------------------------------------------------------------ tracks

    def add_tracks(self, video_id: str, path: str, identity: str, tracks: Sequence[FaceTrack]) -> list[int]:
        with self.tx() as db:
            return self.insert_tracks(db, video_id, path, identity, tracks)

    def insert_tracks(self, db: sqlite3.Connection, video_id: str, path: str, identity: str,
                      tracks: Sequence[FaceTrack]) -> list[int]:
        """Inside the caller's transaction (`tx`)."""
        now = time.time()
        ids = []
        for t in tracks:
            cur = db.execute(
                "INSERT INTO face_tracks (video_id, path, identity, start, end, frames, best_t, box, quality, "
                "vector, crop, boxes, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (video_id, path, identity, t.start, t.end, t.frames, t.best_t, json.dumps(list(t.box)),
                 t.quality, np.asarray(t.vector, np.float32).tobytes(), t.crop,
                 json.dumps([[round(ts, 3), list(b)] for ts, b in t.boxes]), now))
            ids.append(int(cur.lastrowid))
        return ids

    def tracks(self, where: str = "", *args: object) -> list[TrackRow]:
        with self._lock:
            rows = self.db.execute(
                "SELECT id, video_id, path, start, end, box, quality, vector, person_id, pinned FROM face_tracks "
                f"{where} ORDER BY id", args).fetchall()
        return [TrackRow(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6],
                         np.frombuffer(r[7], np.float32), r[8], bool(r[9])) for r in rows]

    def track(self, track_id: int) -> TrackRow:
        rows = self.tracks("WHERE id = ?", int(track_id))
        if not rows:
            raise PeopleError(f"no face track {track_id}")
        return rows[0]

    def crop(self, track_id: int) -> bytes:
        with self._lock:
            row = self.db.execute("SELECT crop FROM face_tracks WHERE id = ?", (int(track_id),)).fetchone()
        if row is None:
            raise PeopleError(f"no face track {track_id}")
        return bytes(row[0])

    def box_at(self, track_id: int, t: float) -> tuple[int, int, int, int] | None:
        """The track's box at the sample nearest `t`."""
        with self._lock:
            row = self.db.execute("SELECT boxes FROM face_tracks WHERE id = ?", (int(track_id),)).fetchone()
        boxes = json.loads(row[0]) if row else []
        if not boxes:
            return None
        return tuple(min(boxes, key=lambda tb: abs(tb[0] - t))[1])

    def remove_video(self, video_id: str) -> int:
        """Tracks of a deleted file go; people left without tracks go unless named."""
        with self.tx() as db:
            n = db.execute("DELETE FROM face_tracks WHERE video_id = ?", (video_id,)).rowcount
            self._drop_empty(db)
        return n

    def forget(self) -> None:
        """Every face vector, crop and name (`reelfind forget --channel people`)."""
        with self.tx() as db:
            db.execute("DELETE FROM face_tracks")
            db.execute("DELETE FROM people")

    # ------------------------------------------------------------------ people

    def people(self) -> list[Person]:
        with self._lock:
            rows = self.db.execute(
                "SELECT p.id, p.name, COUNT(t.id) FROM people p LEFT JOIN face_tracks t ON t.person_id = p.id "
                "GROUP BY p.id ORDER BY p.id").fetchall()
        return [Person(*r) for r in rows]

    def person(self, pid: int) -> Person:
        for p in self.people():
            if p.id == pid:
                return p
        raise PeopleError(f"no person {pid}")

    def by_name(self, name: str) -> Person | None:
        with self._lock:
            row = self.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE",
                                  (" ".join(name.split()),)).fetchone()
        return self.person(row[0]) if row else None

    def new_person(self, db: sqlite3.Connection, name: str | None = None) -> int:
        now = time.time()
        cur = db.execute("INSERT INTO people (name, created_at, named_at) VALUES (?, ?, ?)",
                         (name, now, now if name else None))
        return int(cur.lastrowid)

    def set_anchor(self, db: sqlite3.Connection, pid: int) -> None:
        """Remember a named person's face (centroid of its tracks now): the name still recognises
        that face when every track it came from is gone (file re-analysed, moved out, deleted)."""
        rows = db.execute("SELECT vector FROM face_tracks WHERE person_id = ?", (pid,)).fetchall()
        if rows:
            v = np.mean([np.frombuffer(r[0], np.float32) for r in rows], axis=0)
            v = (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)
            db.execute("UPDATE people SET anchor = ? WHERE id = ?", (v.tobytes(), pid))

    def anchors(self) -> dict[int, np.ndarray]:
        with self._lock:
            rows = self.db.execute("SELECT id, anchor FROM people WHERE anchor IS NOT NULL").fetchall()
        return {r[0]: np.frombuffer(r[1], np.float32) for r in rows}

    def _drop_empty(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM people WHERE name IS NULL AND id NOT IN "
                   "(SELECT person_id FROM face_tracks WHERE person_id IS NOT NULL)")
