"""Request work proportional to the request on a 100,000-file catalog (no whole-catalog reads).

The catalog is real SQLite with 100k synthetic rows (no decoding). Whole-catalog reads
(`Catalog.all()` without a limit) raise here, and the rows each request materialises are
counted: a list_videos page touches its page, a path_glob its matching ids, a name lookup uses
the file-name index, and `reelfind status` does not walk the thumbnail folder.
"""

from __future__ import annotations

import fnmatch
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from reelcore import status as status_mod
from reelcore.channels.visual.embedder import Embedder
from reelcore.inputs import QueryError
from reelcore.query.search import SearchService
from reelcore.storage.catalog import Catalog
from reelcore.storage.globsql import NAME_SQL
from reelcore.storage.store import FrameRecord, FrameStore, Thumbnails

from .conftest import tiny_settings

N = 100_000


def build_rows(db_path: Path, n: int) -> list[str]:
    """n synthetic catalogue rows written in one transaction; returns their paths."""
    Catalog(db_path).close()  # the schema, by the real migrations
    paths = [f"/footage/cam{i % 50:02d}/{2000 + i % 25}/{i:06d}_{'day' if i % 3 else 'night'}.mp4"
             for i in range(n - 2)] + ["/footage/a/dup.mov", "/footage/b/dup.mov"]
    now = time.time()
    rows = [(p, "/footage", 1000 + i, now, f"fp{i}", f"{i:016x}",
             "failed" if i % 997 == 0 else "pending" if i % 101 == 0 else "indexed",
             "boom" if i % 997 == 0 else None, "truncated" if i % 5003 == 0 else None, 0 if i % 101 == 0 else 30,
             30.0, now) for i, p in enumerate(paths)]
    with sqlite3.connect(db_path) as db:
        db.executemany("INSERT INTO files (path, root, size, mtime, fingerprint, video_id, state, error, note, "
                       "frames, duration, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return paths


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    data = tmp_path_factory.mktemp("scale")
    settings = tiny_settings(data)
    paths = build_rows(settings.catalog_path, N)
    catalog = Catalog(settings.catalog_path)
    embedder = Embedder(settings.model)
    store = FrameStore(settings, embedder.identity)
    svc = SearchService(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir))
    yield svc, paths
    store.close()
    catalog.close()


@pytest.fixture()
def counted(big, monkeypatch):
    """The service, plus a list of rows materialised per catalog read; unbounded all() raises."""
    svc, paths = big
    touched: list[int] = []
    real_many, real_all = Catalog._many, Catalog.all

    def many(self, sql, *args):
        out = real_many(self, sql, *args)
        touched.append(len(out))
        return out

    def bounded_all(self, state=None, limit=-1, offset=0):
        if limit < 0:
            raise AssertionError("a request read the whole catalog (Catalog.all without a limit)")
        return real_all(self, state, limit, offset)

    monkeypatch.setattr(Catalog, "_many", many)
    monkeypatch.setattr(Catalog, "all", bounded_all)
    return svc, paths, touched


def _old_filter(paths: list[str], glob: str) -> list[str]:
    return sorted(p for p in paths if fnmatch.fnmatch(p, glob) or fnmatch.fnmatch(p.rsplit("/", 1)[-1], glob))


@pytest.mark.parametrize("glob", [None, "*night*", "/footage/cam07/*", "*/2003/*", "0001?[!0]_day.mp4"])
def test_list_videos_pages_touch_only_the_page(counted, glob):
    svc, paths, touched = counted
    expected = _old_filter(paths, glob) if glob else sorted(paths)
    for offset in (0, len(expected) // 2):
        out = svc.list_videos(glob, None, 50, offset)
        assert out.total == len(expected)
        assert [v.path for v in out.videos] == expected[offset:offset + 50]
    assert touched and max(touched) <= 50  # rows built per read: the page, never the catalog


def test_list_videos_by_state_counts_in_sql(counted):
    svc, _, touched = counted
    out = svc.list_videos(None, "failed", 10, 0)
    assert out.total == svc.catalog.counts()["failed"] and {v.state for v in out.videos} == {"failed"}
    assert max(touched) <= 10


def test_path_glob_selects_video_ids_without_building_records(counted):
    svc, paths, touched = counted
    ids = svc.video_ids_matching("/footage/cam07/2007/*")
    expected = _old_filter(paths, "/footage/cam07/2007/*")
    assert len(ids) == len(expected) > 0 and touched == []
    assert svc.any_video_matching("*cam49*") and not svc.any_video_matching("*cam99*")


def test_name_lookup_uses_the_file_name_index(counted):
    svc, paths, touched = counted
    rec = svc.resolve_video("012345_night.mp4")
    assert rec.path == "/footage/cam45/2020/012345_night.mp4" and touched == [1]
    with pytest.raises(QueryError, match="matches 2 videos"):
        svc.resolve_video("dup.mov")
    with pytest.raises(QueryError, match="no indexed video"):
        svc.resolve_video("nothing.mp4")
    plan = svc.catalog._db.execute(f"EXPLAIN QUERY PLAN SELECT * FROM files WHERE {NAME_SQL} = ?", ("x",)).fetchall()
    assert any("files_name" in str(tuple(r)) for r in plan), plan


def test_status_reads_no_whole_catalog_and_walks_no_thumbnails(big, counted, monkeypatch):
    svc, _, touched = counted
    thumbs = svc.settings.thumbs_dir / "0123456789abcdef"
    thumbs.mkdir(parents=True, exist_ok=True)
    for k in range(200):
        (thumbs / f"{k * 1000}.jpg").write_bytes(b"x" * 1000)
    walked: list[str] = []
    real_walk = os.walk

    def walk(top, *a, **kw):
        walked.append(str(top))
        return real_walk(top, *a, **kw)

    monkeypatch.setattr(status_mod.os, "walk", walk)
    st = status_mod.collect_status(svc.settings)
    assert st["counts"]["failed"] == svc.catalog.counts()["failed"] and st["warnings"]
    assert all(w["note"] for w in st["warnings"])
    assert not any(w.startswith(str(svc.settings.thumbs_dir)) or w == str(svc.settings.data_dir) for w in walked)
    assert 0 < st["data_bytes"] < sum(f.stat().st_size for f in svc.settings.data_dir.rglob("*") if f.is_file())


def test_a_glob_matching_more_videos_than_sqlite_variables_searches(big, monkeypatch):
    """Issue 19 item 2: path_glob="*.mp4" matches 99,998 catalogued videos. The store query it feeds
    used one `$in` list of them all; embedded Chroma binds one SQL variable per id and failed above
    32,766 ("too many SQL variables", so "the index is not available"). Scenes take the same path.
    A few vectors suffice: the limit is in the filter, not in the collection."""
    svc, paths = big
    vec = svc.query_vector("a red car")
    rng = np.random.default_rng(7)
    mov = N - 2  # /footage/a/dup.mov: its 12 frames are the nearest of all, and never match "*.mp4"
    stored = [i for i in range(0, N - 2, 3331)]  # 31 .mp4 videos across the catalog
    recs, vecs = [], []
    for i in [*stored, mov]:
        for k in range(12 if i == mov else 3):
            recs.append(FrameRecord(f"{i:016x}:{k * 1000}", f"{i:016x}", paths[i], float(k), k + 1.0, 0))
            noise = 0.05 if i == mov else 0.3 + 0.01 * (i % 7)
            vecs.append(vec + noise * rng.standard_normal(vec.shape).astype(np.float32))
    svc.store.upsert(recs, np.stack(vecs))
    filters: list[int] = []
    real = getattr(svc.store, "_query", None)  # (absent before the fix)

    def spy(vector, n, flt):
        if flt is not None:
            filters.append(len(flt["video_id"]["$in"]))
        return real(vector, n, flt)

    monkeypatch.setattr(svc.store, "_query", spy, raising=False)
    try:
        ids = svc.video_ids_matching("*.mp4")
        assert len(ids) == N - 2 > 32_766
        everything = svc.store.query(vec, 200)
        assert [h.path for h in everything[:12]] == [paths[mov]] * 12
        want = [h.id for h in everything if h.path.endswith(".mp4")]
        # Exactly the nearest frames of the matching videos: from a wider unfiltered query when it
        # holds enough of them, else from the id list in parts (each under the variable limit).
        assert [h.id for h in svc.store.query(vec, 50, ids)] == want[:50] and filters == []
        assert [h.id for h in svc.store.query(vec, 2, ids)] == want[:2]
        assert len(filters) == 4 and max(filters) < 32_766 and sum(filters) == len(ids)
        moments = svc.search_vector(vec, 10, "*.mp4")
        assert moments and {m.path for m in moments} <= {paths[i] for i in stored}
        scenes = svc.scenes(["a red car"], 5, "*.mp4", threshold_z=0.0)
        assert scenes.message != "Nothing indexed to search (or nothing matches path_glob)."
        assert all(sc.path.endswith(".mp4") for sc in scenes.scenes)
        night = svc.search_vector(vec, 10, "*night*")  # 33,333 videos: also over the limit
        assert night and all("night" in m.path for m in night)
    finally:
        svc.store.delete_ids(r.id for r in recs)
