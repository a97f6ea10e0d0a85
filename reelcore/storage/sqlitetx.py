"""One SQLite write transaction, the same for every local database (catalog, people, word index)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


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
