"""Read-side cost at 100,000 catalogued files: before (whole-catalog Python filter) vs after (SQL).

    python bench/catalog_scale.py [--files 100000] [--thumbs 50000] [--store-videos 2000] [--repeat 5]
                                  [--scratch /tmp/reelfind-bench] [--only-search]

Builds (once, reused) a catalog of --files synthetic FileRecords (no decoding: paths over 50
cameras x 25 years, 1% pending, 0.1% failed, a few noted) plus --thumbs thumbnail files, then times
per request (best of --repeat) and counts the catalog rows each request materialises:

* list_videos: first page, a deep page (offset 90%), a glob page, a state page (limit 50)
* path_glob -> video ids (what every search with path_glob does), for a narrow and a broad glob
* name lookup (resolve_video by bare file name)
* status (`reelfind status`: collect_status, incl. the data-size figure)
* search with a path_glob (the store query it feeds; --store-videos videos x 5 frames of random
  vectors in the real embedded Chroma): '*.mp4' (every video), '*night*' (a third), a narrow glob,
  no glob. "before" is the old single `$in` list of every matching id ("too many SQL variables"
  above 32,766 ids); "after" is FrameStore.query (parts of IN_CHUNK ids, nearest merged).

"before" re-runs the code this replaced (Catalog.all() + fnmatch in Python, `path.endswith` over
all records, os.walk over data_dir); "after" is the current SearchService / collect_status.
Results: a table on stdout and bench/results/catalog_scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelcore.channels.visual.embedder import Embedder  # noqa: E402
from reelcore.config import load_settings  # noqa: E402
from reelcore.query.search import SearchService  # noqa: E402
from reelcore.status import _dir_size, collect_status  # noqa: E402
from reelcore.storage import store as store_mod  # noqa: E402
from reelcore.storage.catalog import INDEXED, Catalog  # noqa: E402
from reelcore.storage.globsql import glob_match  # noqa: E402
from reelcore.storage.store import FrameRecord, FrameStore, Thumbnails  # noqa: E402

TINY = {"name": "reelfind-tiny", "pretrained": "none",
        "config_path": str(ROOT / "tests" / "assets" / "reelfind-tiny.json")}


def build(data: Path, files: int, thumbs: int) -> None:
    settings = load_settings(None, data_dir=data, model=dict(TINY))
    if settings.catalog_path.exists():
        return
    Catalog(settings.catalog_path).close()
    now = time.time()
    rows = []
    for i in range(files):
        p = _path(i)
        state = "failed" if i % 997 == 0 else "pending" if i % 101 == 0 else INDEXED
        rows.append((p, "/footage", 10**8, now, f"fp{i}", f"{i:016x}", state, "decode error" if state == "failed"
                     else None, "truncated" if i % 5003 == 0 else None, 0 if state != INDEXED else 3600, 3600.0, now))
    with sqlite3.connect(settings.catalog_path) as db:
        db.executemany("INSERT INTO files (path, root, size, mtime, fingerprint, video_id, state, error, note, "
                       "frames, duration, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    per_dir = 100
    for k in range(thumbs):
        d = settings.thumbs_dir / f"{k // per_dir:016x}"
        if k % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"{(k % per_dir) * 1000}.jpg").write_bytes(b"\xff\xd8" + b"\0" * 4000)


def _path(i: int) -> str:
    return f"/footage/cam{i % 50:02d}/{2000 + i % 25}/{i:06d}_{'day' if i % 3 else 'night'}.mp4"


def build_store(store: FrameStore, files: int, videos: int, dim: int) -> None:
    """`videos` catalogued videos spread over the catalog, 5 frames each (random unit vectors)."""
    if store.count() or not videos:
        return
    rng = np.random.default_rng(0)
    step = max(1, files // videos)
    recs = [FrameRecord(f"{i:016x}:{k * 1000}", f"{i:016x}", _path(i), float(k), k + 1.0, 0)
            for i in range(0, files, step)[:videos] for k in range(5)]
    vecs = rng.standard_normal((len(recs), dim)).astype(np.float32)
    store.upsert(recs, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))


Case = tuple[str, Callable[[], object] | None, Callable[[], object]]


def search_cases(svc: SearchService, vec: np.ndarray) -> list[Case]:
    """Before: the old FrameStore.query (one `$in` of every matching id); after: the current one."""
    def old(glob: str | None):
        ids = svc.video_ids_matching(glob)
        flt = None if ids is None else {"video_id": {"$in": ids}}
        return svc.store._query(vec, 80, flt)

    def new(glob: str | None):
        return svc.store.query(vec, 80, svc.video_ids_matching(glob))

    def in_parts(glob: str):
        """The worst case: the nearest frames overall are not in the glob, so the id list is
        queried in parts (WIDE = 0 skips the wider unfiltered query)."""
        with mock.patch.object(store_mod, "WIDE", 0):
            return new(glob)

    globs = ["*.mp4", "*night*", "/footage/cam07/2007/*", None]
    out = [(f"search {g!r}" if g else "search, no glob", lambda g=g: old(g), lambda g=g: new(g)) for g in globs]
    out.append(("search '*.mp4', id list in parts", lambda: old("*.mp4"), lambda: in_parts("*.mp4")))
    out.append(("search_vector '*.mp4' (whole request)", None, lambda: svc.search_vector(vec, 10, "*.mp4")))
    return out


def old_dir_size(path: Path) -> int:
    """What `reelfind status` did before: walk the whole data dir (thumbnails included)."""
    return _dir_size(path)


def timed(fn, repeat: int) -> float | str:
    """Best of `repeat` in ms, or the error a request fails with."""
    if fn is None:
        return "-"
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        try:
            fn()
        except Exception as e:
            return "error: " + ("too many SQL variables" if "too many SQL variables" in str(e) else str(e)[:40])
        best = min(best, time.perf_counter() - t)
    return best * 1000


def _try(fn: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # timed() reports it
        fn()


def _ms(v: float | str) -> str:
    return f"{v:10.2f}" if isinstance(v, float) else v


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--thumbs", type=int, default=50_000)
    ap.add_argument("--store-videos", type=int, default=2000)
    ap.add_argument("--only-search", action="store_true", help="skip the catalog-only requests")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/reelfind-bench"))
    a = ap.parse_args()
    data = a.scratch / f"catalog-{a.files}-{a.thumbs}"
    t0 = time.perf_counter()
    build(data, a.files, a.thumbs)
    print(f"catalog of {a.files} files + {a.thumbs} thumbnails at {data} ({time.perf_counter() - t0:.1f} s)")
    settings = load_settings(None, data_dir=data, model=dict(TINY))
    catalog = Catalog(settings.catalog_path)
    embedder = Embedder(settings.model)
    store = FrameStore(settings, embedder.identity)
    svc = SearchService(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir))
    n = catalog.count()
    vec = svc.query_vector("a red car")
    t0 = time.perf_counter()
    build_store(store, a.files, a.store_videos, int(vec.shape[-1]))
    print(f"store: {store.count()} vectors of {a.store_videos} videos ({time.perf_counter() - t0:.1f} s)")

    rows = [0]
    real_many = Catalog._many

    def counting(self, sql, *args):
        out = real_many(self, sql, *args)
        rows[0] += len(out)
        return out

    Catalog._many = counting  # type: ignore[method-assign]

    def old_list(glob, state, offset):
        recs = catalog.all(state)
        if glob:
            recs = [r for r in recs if glob_match(r.path, glob)]
        return len(recs), recs[offset:offset + 50]

    def old_ids(glob):
        return [r.video_id for r in catalog.all() if glob_match(r.path, glob)]

    def old_name(name):
        return [r for r in catalog.all() if r.path.endswith("/" + name)]

    def old_status():
        catalog.counts()
        catalog.all("failed", limit=100)
        [r for r in catalog.all(INDEXED) if r.note]
        old_dir_size(settings.data_dir)

    cases = [
        ("list_videos page 1", lambda: old_list(None, None, 0), lambda: svc.list_videos(None, None, 50, 0)),
        ("list_videos offset 90%", lambda: old_list(None, None, n * 9 // 10),
         lambda: svc.list_videos(None, None, 50, n * 9 // 10)),
        ("list_videos '*night*'", lambda: old_list("*night*", None, 0),
         lambda: svc.list_videos("*night*", None, 50, 0)),
        ("list_videos state=failed", lambda: old_list(None, "failed", 0),
         lambda: svc.list_videos(None, "failed", 50, 0)),
        ("path_glob '/footage/cam07/2007/*'", lambda: old_ids("/footage/cam07/2007/*"),
         lambda: svc.video_ids_matching("/footage/cam07/2007/*")),
        ("path_glob '*.mp4' (all)", lambda: old_ids("*.mp4"), lambda: svc.video_ids_matching("*.mp4")),
        ("name lookup '012345_night.mp4'", lambda: old_name("012345_night.mp4"),
         lambda: svc.resolve_video("012345_night.mp4")),
        ("status", old_status, lambda: collect_status(settings)),
    ]
    cases = ([] if a.only_search else cases) + search_cases(svc, vec)
    results = []
    print(f"\n{'request':38} {'before ms':>10} {'after ms':>9} {'rows before':>12} {'rows after':>11}")
    for name, before, after in cases:
        rows[0] = 0
        _try(before)
        rows_before = rows[0]
        rows[0] = 0
        _try(after)
        rows_after = rows[0]
        tb, ta = timed(before, a.repeat), timed(after, a.repeat)
        results.append({"request": name, "before_ms": tb if isinstance(tb, str) else round(tb, 2),
                        "after_ms": ta if isinstance(ta, str) else round(ta, 2),
                        "rows_before": rows_before, "rows_after": rows_after})
        print(f"{name:38} {_ms(tb):>10} {_ms(ta):>9} {rows_before:12d} {rows_after:11d}")
    st = collect_status(settings)
    print(f"\nstatus data_bytes now {st['data_bytes']:,} (catalog + vector store; was {old_dir_size(data):,} "
          "with every thumbnail walked)")
    Catalog._many = real_many  # type: ignore[method-assign]
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "catalog_scale.json").write_text(json.dumps({"files": a.files, "thumbs": a.thumbs, "results": results,
                                                         "load": os.getloadavg()}, indent=1))
    store.close()
    catalog.close()


if __name__ == "__main__":
    main()
