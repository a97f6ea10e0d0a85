"""Catalog schema migrations: concurrent first opens, and a catalog from a newer reelfind."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from reelcore.catalog import MIGRATIONS, Catalog, CatalogError

from .conftest import REPO


def test_migration_run_meanwhile_by_another_process_is_not_an_error(tmp_path, monkeypatch):
    path = tmp_path / "catalog.sqlite3"
    real = Catalog.schema_version

    def stale_version(self):  # we looked before the other process migrated
        v = real.fget(self)
        if not getattr(self, "_raced", False):
            self._raced = True
            subprocess.run([sys.executable, "-c", f"from reelcore.catalog import Catalog; Catalog(__import__('pathlib')"
                            f".Path({str(path)!r})).close()"], cwd=REPO, check=True)
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
