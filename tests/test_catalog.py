"""Catalog schema migrations: concurrent first opens, and a catalog from a newer reelfind."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from reelcore.storage.catalog import MIGRATIONS, Catalog, CatalogError

from .conftest import REPO


def test_migration_run_meanwhile_by_another_process_is_not_an_error(tmp_path, monkeypatch):
    path = tmp_path / "catalog.sqlite3"
    real = Catalog.schema_version

    def stale_version(self):  # we looked before the other process migrated
        v = real.fget(self)
        if not getattr(self, "_raced", False):
            self._raced = True
            subprocess.run([sys.executable, "-c", "from reelcore.storage.catalog import Catalog; "
                            f"Catalog(__import__('pathlib').Path({str(path)!r})).close()"], cwd=REPO, check=True)
        return v

    monkeypatch.setattr(Catalog, "schema_version", property(stale_version))
    cat = Catalog(path)
    monkeypatch.setattr(Catalog, "schema_version", real)
    assert cat.schema_version == len(MIGRATIONS)
    cat.add("/r/a.mp4", "/r", 1, 1.0, "1:x")
    assert cat.get("/r/a.mp4") is not None
    cat.close()


def test_catalog_from_a_newer_reelfind_is_a_clear_error(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(CatalogError, match="newer than this reelfind"):
        Catalog(path)


def test_a_v1_catalog_is_upgraded_in_place_keeping_its_rows(tmp_path):
    """Old catalogs are migrated, never rebuilt: a row written by the first schema survives, and
    gains the v3 column (short_at_ms) and the store_ops table the indexer now writes to."""
    from reelcore.storage.catalog import DELETE_VIDEO, _statements

    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    for statement in _statements(MIGRATIONS[0]):
        db.execute(statement)
    db.execute("INSERT INTO files (path, root, size, mtime, fingerprint, video_id, state, frames, updated_at) "
               "VALUES ('/r/a.mp4', '/r', 10, 1.0, '10:x', 'vid1', 'indexed', 7, 1.0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    cat = Catalog(path)
    try:
        assert cat.schema_version == len(MIGRATIONS)
        rec = cat.get("/r/a.mp4")
        assert rec.video_id == "vid1" and rec.frames == 7 and rec.state == "indexed" and rec.short_at_ms is None
        cat.update("/r/a.mp4", short_at_ms=1500, intents=[(DELETE_VIDEO, "old")])
        assert cat.get("/r/a.mp4").short_at_ms == 1500
        assert [(o.op, o.video_id) for o in cat.pending_ops()] == [(DELETE_VIDEO, "old")]
    finally:
        cat.close()


def test_rows_with_columns_from_a_newer_reelfind_still_read(tmp_path):
    """A newer reelfind may migrate the catalog while this version's service still runs beside it."""
    path = tmp_path / "catalog.sqlite3"
    cat = Catalog(path)
    cat.add("/r/a.mp4", "/r", 10, 1.0, "fp")
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE files ADD COLUMN from_the_future TEXT")
    db.commit()
    db.close()
    rec = cat.get("/r/a.mp4")
    assert rec is not None and rec.path == "/r/a.mp4"
    cat.close()
