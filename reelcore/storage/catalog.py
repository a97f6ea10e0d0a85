"""SQLite catalog of files: fingerprints, state, errors, resume cursor; versioned schema migrations."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .globsql import NAME_SQL, glob_match, glob_where
from .sqlitetx import connect, write_transaction

# States a file moves through. "missing" is transient: a file confirmed gone is removed.
PENDING, INDEXING, INDEXED, FAILED = "pending", "indexing", "indexed", "failed"
STATES = (PENDING, INDEXING, INDEXED, FAILED)

# Each entry upgrades the schema by one version (PRAGMA user_version). Never edit a shipped
# migration: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE files (
        id             INTEGER PRIMARY KEY,
        path           TEXT NOT NULL UNIQUE,
        root           TEXT NOT NULL,
        size           INTEGER NOT NULL,
        mtime          REAL NOT NULL,
        fingerprint    TEXT NOT NULL,
        video_id       TEXT NOT NULL UNIQUE,
        stale_video_id TEXT,
        state          TEXT NOT NULL DEFAULT 'pending',
        error          TEXT,
        note           TEXT,
        frames         INTEGER NOT NULL DEFAULT 0,
        cursor_ms      INTEGER,
        duration       REAL,
        model_identity TEXT,
        unavailable    INTEGER NOT NULL DEFAULT 0,
        attempts       INTEGER NOT NULL DEFAULT 0,
        next_retry     REAL,
        updated_at     REAL NOT NULL
    );
    CREATE INDEX files_fingerprint ON files(fingerprint);
    CREATE INDEX files_state ON files(state);
    CREATE INDEX files_root ON files(root);
    """,
    # v2 (read side): look a video up by its file name without scanning the catalog.
    f"CREATE INDEX IF NOT EXISTS files_name ON files({NAME_SQL});",
    # v3 (indexing side): where the last try's decode was cut short by a read error (a damaged spot
    # stops at the same place every try; a dropped share does not), and store work the catalog has
    # committed to (written in the same transaction as the catalog change, replayed after a crash).
    """
    ALTER TABLE files ADD COLUMN short_at_ms INTEGER;
    CREATE TABLE store_ops (
        id         INTEGER PRIMARY KEY,
        op         TEXT NOT NULL,
        video_id   TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX files_stale ON files(stale_video_id);
    """,
    # v4 (indexing side): tries cut short by a read error, counted apart from `attempts` (tries that
    # never finished: a crash or hang). A flaky share must not use up a good file's crash limit.
    "ALTER TABLE files ADD COLUMN short_reads INTEGER NOT NULL DEFAULT 0;",
    # v5 (channels): per file (by content, so moves keep it) and channel, that channel's own pass.
    # The visual channel's state stays in `files` (today's columns, nothing copied or re-embedded);
    # the view `file_channels` shows every channel's state, visual included, in one shape.
    # reelcore/channels/state.py reads and writes it.
    """
    CREATE TABLE channel_files (
        video_id   TEXT NOT NULL,
        channel    TEXT NOT NULL,
        identity   TEXT,
        state      TEXT NOT NULL DEFAULT 'pending',
        cursor_ms  INTEGER,
        attempts   INTEGER NOT NULL DEFAULT 0,
        error      TEXT,
        note       TEXT,
        records    INTEGER NOT NULL DEFAULT 0,
        seconds    REAL,
        source_sig TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (video_id, channel)
    );
    CREATE INDEX channel_files_state ON channel_files(channel, state);
    CREATE VIEW file_channels AS
        SELECT video_id, 'visual' AS channel, model_identity AS identity, state, cursor_ms, attempts,
               error, note, frames AS records, duration AS seconds, NULL AS source_sig, updated_at
        FROM files
        UNION ALL
        SELECT video_id, channel, identity, state, cursor_ms, attempts, error, note, records, seconds,
               source_sig, updated_at
        FROM channel_files;
    """,
]

# Store work recorded by the catalog change that makes it due (see Catalog.pending_ops).
DELETE_VIDEO = "delete_video"  # drop a video id's vectors and thumbnails (no row refers to it any more)
SET_PATH = "set_path"  # bring a video id's vector path metadata to the path its row now has
Intent = tuple[str, str]  # (op, video_id)


@dataclass(frozen=True)
class StoreOp:
    id: int
    op: str
    video_id: str


@dataclass
class FileRecord:
    id: int
    path: str
    root: str
    size: int
    mtime: float
    fingerprint: str
    video_id: str
    stale_video_id: str | None
    state: str
    error: str | None
    note: str | None
    frames: int
    cursor_ms: int | None
    duration: float | None
    model_identity: str | None
    unavailable: int
    attempts: int
    next_retry: float | None
    updated_at: float
    short_at_ms: int | None = None
    short_reads: int = 0


_COLUMNS = [f.name for f in fields(FileRecord)]


def new_video_id() -> str:
    return uuid.uuid4().hex[:16]


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration (ours hold no ';' inside literals)."""
    return [st.strip() for st in script.split(";") if st.strip()]


class CatalogError(Exception):
    """The catalog cannot be used (e.g. written by a newer reelfind); the message says why."""


class Catalog:
    """Thread-safe wrapper over one SQLite connection (WAL, so readers in other processes see commits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = connect(path)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA synchronous=NORMAL")
        # path_glob filters that SQLite's GLOB cannot express exactly (see globsql.py).
        self._db.create_function("rf_glob", 2, glob_match, deterministic=True)
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._lock:
            current = self.schema_version
            if current > len(MIGRATIONS):
                self._db.close()
                raise CatalogError(
                    f"catalog {self.path} has schema v{current}, newer than this reelfind "
                    f"(v{len(MIGRATIONS)}): upgrade reelfind"
                )
            for version in range(current, len(MIGRATIONS)):
                # One migration = one transaction: a crash mid-migration leaves the old version
                # intact. The version is read again under the write lock: another process (say
                # `reelfind status` beside a first `reelfind serve`) may have migrated since our
                # first look, and re-running an idempotent step would write an OLDER version back.
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    if self.schema_version > version:
                        self._db.execute("ROLLBACK")
                        continue
                    for statement in _statements(MIGRATIONS[version]):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {version + 1}")
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, write_transaction(self._db) as db:
            yield db

    # Channel state (reelcore/channels/state.py) runs its own SQL on this connection, under its lock.
    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE .. COMMIT, rolled back on error)."""
        return self._tx()

    def rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        """Rows of one read query."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- reads ------------------------------------------------------------------------------
    def _one(self, sql: str, *args: Any) -> FileRecord | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return _record(row) if row else None

    def _many(self, sql: str, *args: Any) -> list[FileRecord]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_record(r) for r in rows]

    def get(self, path: str) -> FileRecord | None:
        return self._one("SELECT * FROM files WHERE path = ?", path)

    def get_by_video_id(self, video_id: str) -> FileRecord | None:
        return self._one("SELECT * FROM files WHERE video_id = ?", video_id)

    def by_fingerprint(self, fingerprint: str) -> list[FileRecord]:
        return self._many("SELECT * FROM files WHERE fingerprint = ? ORDER BY id", fingerprint)

    def under(self, prefix: str) -> list[FileRecord]:
        """Records whose path is inside directory `prefix`."""
        prefix = prefix.rstrip("/") + "/"
        return self._many(
            "SELECT * FROM files WHERE substr(path, 1, ?) = ? ORDER BY path", len(prefix), prefix
        )

    def in_root(self, root: str) -> list[FileRecord]:
        return self._many("SELECT * FROM files WHERE root = ? ORDER BY path", root)

    def all(self, state: str | None = None, limit: int = -1, offset: int = 0) -> list[FileRecord]:
        if state:
            return self._many(
                "SELECT * FROM files WHERE state = ? ORDER BY path LIMIT ? OFFSET ?", state, limit, offset
            )
        return self._many("SELECT * FROM files ORDER BY path LIMIT ? OFFSET ?", limit, offset)

    # Read-side queries (search, list_videos, status): filtered and paged in SQL, so a request
    # touches the rows it returns, not the whole catalog.
    @staticmethod
    def _filter(path_glob: str | None, state: str | None) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if state:
            clauses.append("state = ?")
            args.append(state)
        if path_glob:
            sql, params = glob_where(path_glob)
            clauses.append(sql)
            args.extend(params)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def find(self, path_glob: str | None = None, state: str | None = None, limit: int = -1,
             offset: int = 0) -> list[FileRecord]:
        """Records matching a path glob (full path or file name, fnmatch rules) and state, by path."""
        where, args = self._filter(path_glob, state)
        return self._many(f"SELECT * FROM files{where} ORDER BY path LIMIT ? OFFSET ?", *args, limit, offset)

    def count(self, path_glob: str | None = None, state: str | None = None) -> int:
        where, args = self._filter(path_glob, state)
        with self._lock:
            return int(self._db.execute(f"SELECT COUNT(*) FROM files{where}", args).fetchone()[0])

    def video_ids_matching(self, path_glob: str) -> list[str]:
        where, args = self._filter(path_glob, None)
        with self._lock:
            return [r[0] for r in self._db.execute(f"SELECT video_id FROM files{where}", args)]

    def any_matching(self, path_glob: str) -> bool:
        where, args = self._filter(path_glob, None)
        with self._lock:
            return self._db.execute(f"SELECT 1 FROM files{where} LIMIT 1", args).fetchone() is not None

    def by_suffix(self, suffix: str, limit: int = 1000) -> list[FileRecord]:
        """Records whose path ends with `suffix` ('/name' or '/dir/name'), via the file-name index."""
        name = suffix.rsplit("/", 1)[-1]
        return self._many(f"SELECT * FROM files WHERE {NAME_SQL} = ? AND substr(path, -?) = ? ORDER BY path "
                          "LIMIT ?", name, len(suffix), suffix, limit)

    def known_video_ids(self, video_ids: list[str]) -> set[str]:
        """Which of these video ids the catalog holds (a page's worth at a time)."""
        out: set[str] = set()
        with self._lock:
            for i in range(0, len(video_ids), 500):
                chunk = video_ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                out.update(r[0] for r in self._db.execute(
                    f"SELECT video_id FROM files WHERE video_id IN ({marks})", chunk))
        return out

    def noted(self, state: str, limit: int = -1) -> list[FileRecord]:
        """Records in `state` that carry a note (e.g. indexed but truncated)."""
        return self._many("SELECT * FROM files WHERE state = ? AND note IS NOT NULL AND note != '' "
                          "ORDER BY path LIMIT ?", state, limit)

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM files GROUP BY state").fetchall()
            unavailable = self._db.execute("SELECT COUNT(*) FROM files WHERE unavailable = 1").fetchone()[0]
            frames = self._db.execute("SELECT COALESCE(SUM(frames), 0) FROM files").fetchone()[0]
        out = {s: 0 for s in STATES}
        out.update({r["state"]: r["n"] for r in rows})
        out["unavailable"] = int(unavailable)
        out["frames"] = int(frames)
        return out

    def due_for_retry(self, now: float, max_attempts: int) -> list[FileRecord]:
        return self._many(
            # failed files, and files whose decode was cut short by a read error (pending + next_retry)
            "SELECT * FROM files WHERE (state = ? OR (state = ? AND next_retry IS NOT NULL)) AND unavailable = 0 "
            "AND attempts < ? AND (next_retry IS NULL OR next_retry <= ?) ORDER BY next_retry",
            FAILED, PENDING, max_attempts, now,
        )

    # -- writes -----------------------------------------------------------------------------
    def add(self, path: str, root: str, size: int, mtime: float, fingerprint: str) -> FileRecord:
        with self._tx() as db:
            db.execute(
                "INSERT INTO files (path, root, size, mtime, fingerprint, video_id, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (path, root, size, mtime, fingerprint, new_video_id(), PENDING, time.time()),
            )
        rec = self.get(path)
        assert rec is not None
        return rec

    def update(self, path: str, *, intents: Iterable[Intent] = (), **changes: Any) -> None:
        """Change columns of one row; `intents` are store ops recorded in the same transaction."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown catalog columns: {sorted(unknown)}")
        changes["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in changes)
        with self._tx() as db:
            db.execute(f"UPDATE files SET {cols} WHERE path = ?", (*changes.values(), path))
            self._intend(db, intents)

    def move(self, old_path: str, new_path: str, root: str, mtime: float, intents: Iterable[Intent] = ()) -> None:
        """Rename keeps the record (and so its video_id and vectors)."""
        with self._tx() as db:
            # A row the move replaces leaves its vectors to the store ops (replayed if we crash).
            for r in db.execute("SELECT video_id, stale_video_id FROM files WHERE path = ?", (new_path,)).fetchall():
                intents = [*intents, (DELETE_VIDEO, r["video_id"]), (DELETE_VIDEO, r["stale_video_id"])]
            db.execute("DELETE FROM files WHERE path = ?", (new_path,))
            db.execute(
                "UPDATE files SET path = ?, root = ?, mtime = ?, unavailable = 0, updated_at = ? WHERE path = ?",
                (new_path, root, mtime, time.time(), old_path),
            )
            self._intend(db, intents)

    def remove(self, path: str, intents: Iterable[Intent] = ()) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM files WHERE path = ?", (path,))
            self._intend(db, intents)

    # -- store ops: vector/thumbnail work that a committed catalog change made due -----------
    @staticmethod
    def _intend(db: sqlite3.Connection, intents: Iterable[Intent]) -> None:
        now = time.time()
        db.executemany("INSERT INTO store_ops (op, video_id, created_at) VALUES (?, ?, ?)",
                       [(op, vid, now) for op, vid in intents if vid])

    def pending_ops(self) -> list[StoreOp]:
        """Store work not yet confirmed done (a crash came between the catalog change and it)."""
        with self._lock:
            rows = self._db.execute("SELECT id, op, video_id FROM store_ops ORDER BY id").fetchall()
        return [StoreOp(r["id"], r["op"], r["video_id"]) for r in rows]

    def done_op(self, op_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM store_ops WHERE id = ?", (op_id,))

    def referring(self, video_id: str) -> FileRecord | None:
        """The row whose current or stale version is this video id, if any."""
        return self._one("SELECT * FROM files WHERE video_id = ? OR stale_video_id = ? LIMIT 1", video_id, video_id)

    def set_unavailable(self, root: str, unavailable: bool) -> int:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE files SET unavailable = ?, updated_at = ? WHERE root = ? AND unavailable != ?",
                (int(unavailable), time.time(), root, int(unavailable)),
            )
            return cur.rowcount


_FIELDS = tuple(FileRecord.__dataclass_fields__)


def _record(row: sqlite3.Row) -> FileRecord:
    """A row as a FileRecord, from the columns this version knows: a newer reelfind that migrated the
    catalog (added columns) must not break a process of this version still running beside it."""
    keys = row.keys()
    return FileRecord(**{k: row[k] for k in _FIELDS if k in keys})
