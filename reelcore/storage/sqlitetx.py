"""How every local SQLite database (catalog, people tables, speech word index) is opened and written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT = 30.0  # seconds a write waits for another process's write transaction


def connect(path: str | Path) -> sqlite3.Connection:
    """One connection shared by a process's threads (callers serialise with their own lock), in
    autocommit mode (transactions are explicit: `write_transaction`), WAL so readers in other
    processes see commits without blocking the writer. ":memory:" for tests."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT, isolation_level=None)
    if str(path) != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE (SQLite's write lock before the first read, so two writers queue instead of
    acting on a state the other is changing) .. COMMIT; rolled back on any error, a failed COMMIT
    included. The caller holds its connection's thread lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
