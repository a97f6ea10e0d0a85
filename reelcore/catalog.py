"""SQLite catalog of files: fingerprints, state, errors, resume cursor; versioned schema migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

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
]


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


_COLUMNS = [f.name for f in fields(FileRecord)]


def new_video_id() -> str:
    return uuid.uuid4().hex[:16]


class CatalogError(Exception):
    """The catalog cannot be used (e.g. written by a newer reelfind); the message says why."""


class Catalog:
    """Thread-safe wrapper over one SQLite connection (WAL, so readers in other processes see commits)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
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
                # One script = one transaction: a crash mid-migration leaves the old version intact.
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
                    )
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    # Another process (say `reelfind status` beside a first `reelfind serve`) ran
                    # this migration between our version check and our BEGIN: nothing to do.
                    if self.schema_version > version:
                        continue
                    raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- reads ------------------------------------------------------------------------------
    def _one(self, sql: str, *args: Any) -> FileRecord | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return FileRecord(**dict(row)) if row else None

    def _many(self, sql: str, *args: Any) -> list[FileRecord]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [FileRecord(**dict(r)) for r in rows]

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
            "SELECT * FROM files WHERE state = ? AND unavailable = 0 AND attempts < ? "
            "AND (next_retry IS NULL OR next_retry <= ?) ORDER BY next_retry",
            FAILED, max_attempts, now,
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

    def update(self, path: str, **changes: Any) -> None:
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise KeyError(f"unknown catalog columns: {sorted(unknown)}")
        changes["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in changes)
        with self._tx() as db:
            db.execute(f"UPDATE files SET {cols} WHERE path = ?", (*changes.values(), path))

    def move(self, old_path: str, new_path: str, root: str, mtime: float) -> None:
        """Rename keeps the record (and so its video_id and vectors)."""
        with self._tx() as db:
            db.execute("DELETE FROM files WHERE path = ?", (new_path,))
            db.execute(
                "UPDATE files SET path = ?, root = ?, mtime = ?, unavailable = 0, updated_at = ? WHERE path = ?",
                (new_path, root, mtime, time.time(), old_path),
            )

    def remove(self, path: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM files WHERE path = ?", (path,))

    def set_unavailable(self, root: str, unavailable: bool) -> int:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE files SET unavailable = ?, updated_at = ? WHERE root = ? AND unavailable != ?",
                (int(unavailable), time.time(), root, int(unavailable)),
            )
            return cur.rowcount
