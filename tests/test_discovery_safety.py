"""Reconcile never deletes on doubt, never indexes what lies outside a root, and leaves no orphan
vectors behind (a root that empties or errors, symlinks out of a root, a crash mid-move, a file
changed twice before it was indexed)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from reelcore.ingest.discovery import Root, confirmed_gone
from reelcore.runtime import Runtime

from .conftest import FOOTAGE, tiny_settings
from .store_support import stored_ids


@pytest.fixture()
def indexed_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    shutil.copy(FOOTAGE / "asl_book.mkv", root / "asl_book.mkv")
    shutil.copy(FOOTAGE / "asl_walk.mkv", root / "sub" / "asl_walk.mkv")
    rt = Runtime.open(tiny_settings(tmp_path / "data", model={**_tiny(), "batch_size": 2}), "test")
    for rec in rt.reconciler().reconcile(Root(root)).todo:
        rt.indexer().index(rec)
    yield rt, root
    rt.close()


def _tiny() -> dict:
    from .conftest import TINY_MODEL

    return dict(TINY_MODEL)


def test_an_unreadable_folder_is_not_a_deletion(indexed_root, monkeypatch):
    """EACCES/EIO on a folder (permissions, a flaky share) hides its files from the scan; their
    vectors stay. os.path.exists() says False for those errors too, so it cannot decide."""
    rt, root = indexed_root
    hidden = root / "sub" / "asl_walk.mkv"
    rec = rt.catalog.get(str(hidden))
    n = rt.store.count()
    real_lstat, real_stat, real_walk = os.lstat, os.stat, os.walk

    def denied(real):
        def stat(p, *a, **k):
            if str(p).startswith(str(root / "sub")):
                raise PermissionError(13, "Permission denied", str(p))
            return real(p, *a, **k)
        return stat

    def walk(top, *a, **k):  # os.walk reports the folder to onerror and goes on without it
        for dirpath, dirnames, files in real_walk(top, *a, **k):
            dirnames[:] = [d for d in dirnames if d != "sub"]
            yield dirpath, dirnames, files

    monkeypatch.setattr(os, "lstat", denied(real_lstat))
    monkeypatch.setattr(os, "stat", denied(real_stat))
    monkeypatch.setattr(os, "walk", walk)
    assert not confirmed_gone(str(hidden))
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.removed == [] and rt.store.count() == n
    assert rt.reconciler().file_gone(str(hidden)) is False
    assert rt.catalog.get(str(hidden)).video_id == rec.video_id
    monkeypatch.undo()
    hidden.unlink()
    assert confirmed_gone(str(hidden))
    assert rt.reconciler().reconcile(Root(root)).removed == [str(hidden)]


def test_an_emptied_root_is_an_unmounted_share_not_a_mass_delete(indexed_root, tmp_path):
    """`reelfind index /mnt/share` with the share unmounted (an empty mount point) deletes nothing."""
    rt, root = indexed_root
    n = rt.store.count()
    away = tmp_path / "away"
    away.mkdir()
    for p in list(root.iterdir()):
        p.rename(away / p.name)
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.removed == [] and rt.store.count() == n
    assert all(r.unavailable for r in rt.catalog.in_root(str(root)))
    for p in list(away.iterdir()):
        p.rename(root / p.name)
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.removed == [] and plan.todo == [] and rt.store.count() == n
    assert not any(r.unavailable for r in rt.catalog.in_root(str(root)))


def test_a_symlink_out_of_the_root_is_not_indexed(indexed_root, tmp_path):
    rt, root = indexed_root
    outside = tmp_path / "private"
    outside.mkdir()
    secret = Path(shutil.copy(FOOTAGE / "butterfly.mov", outside / "secret.mov"))
    (root / "innocent.mp4").symlink_to(secret)
    (root / "alias.mkv").symlink_to(root / "asl_book.mkv")  # a link inside the root is fine
    plan = rt.reconciler().reconcile(Root(root))
    assert str(root / "innocent.mp4") in {p for p, _ in plan.unreadable}
    assert rt.catalog.get(str(root / "innocent.mp4")) is None
    assert rt.catalog.get(str(root / "alias.mkv")) is not None
    # A linked folder, even when named explicitly (`reelfind index root/linked`, POST /enqueue).
    (root / "linked").symlink_to(outside, target_is_directory=True)
    plan = rt.reconciler().reconcile(Root(root), scope=root / "linked")
    assert plan.todo == [] and rt.catalog.get(str(root / "linked" / "secret.mov")) is None


def test_a_link_indexed_earlier_is_dropped_once_links_out_are_refused(indexed_root, tmp_path):
    rt, root = indexed_root
    secret = Path(shutil.copy(FOOTAGE / "butterfly.mov", tmp_path / "secret.mov"))
    link = root / "innocent.mov"
    link.symlink_to(secret)
    rec = rt.catalog.add(str(link), str(root), secret.stat().st_size, secret.stat().st_mtime, "x")
    rt.indexer().index(rec)  # what an older reelfind did
    assert rt.store.ids_for_video(rec.video_id)
    rt.reconciler().reconcile(Root(root))
    assert rt.catalog.get(str(link)) is None and rt.store.ids_for_video(rec.video_id) == []


@pytest.mark.parametrize("crash_in", ["catalog", "store"])
def test_a_crash_between_store_and_catalog_during_a_move_heals_on_the_next_scan(indexed_root, monkeypatch,
                                                                                 crash_in):
    rt, root = indexed_root
    rec = rt.catalog.get(str(root / "asl_book.mkv"))
    new = root / "renamed.mkv"
    (root / "asl_book.mkv").rename(new)
    rc = rt.reconciler()

    def crash(*a, **k):
        raise KeyboardInterrupt  # stands for kill -9 at that write (the one before it is done)

    if crash_in == "catalog":
        monkeypatch.setattr(rt.catalog, "move", crash)
    else:
        monkeypatch.setattr(rt.store, "set_path", crash)
    with pytest.raises(KeyboardInterrupt):
        rc.reconcile(Root(root))
    monkeypatch.undo()
    plan = rt.reconciler().reconcile(Root(root))
    # Crash before the catalog move: the scan finds the move again. Crash after it (in the store
    # work): the move is in the catalog with its "fix the vectors' path" op, which the scan replays.
    assert plan.moved == ([(rec.path, str(new))] if crash_in == "catalog" else []) and plan.todo == []
    assert rt.catalog.pending_ops() == []
    frames, _ = rt.store.video_frames(rec.video_id)
    assert frames and {f.path for f in frames} == {str(new)}
    assert rt.catalog.get(str(new)).video_id == rec.video_id


def test_a_file_changed_twice_leaves_no_orphan_vectors(indexed_root):
    rt, root = indexed_root
    target = root / "asl_book.mkv"
    first = rt.catalog.get(str(target))
    shutil.copy(FOOTAGE / "asl_eat_vfr.mp4", target)
    second = rt.reconciler().reconcile(Root(root)).todo[0]
    stop = threading.Event()
    out = rt.indexer().index(second, stop, on_batch=stop.set)  # interrupted after one batch
    assert out.state == "interrupted" and rt.store.ids_for_video(second.video_id)
    shutil.copy(FOOTAGE / "big_buck_bunny_432_433.webm", target)
    third = rt.reconciler().reconcile(Root(root)).todo[0]
    assert third.stale_video_id == first.video_id  # the complete old version stays searchable
    assert rt.store.ids_for_video(second.video_id) == []  # the partial in-between one is gone
    assert rt.store.ids_for_video(first.video_id)
    rt.indexer().index(third)
    known = {r.video_id for r in rt.catalog.all()}
    assert {i.split(":")[0] for i in stored_ids(rt.store)} == known


def test_a_file_name_that_is_not_utf8_is_reported_and_the_scan_goes_on(indexed_root):
    """A Latin-1 name on an old share used to raise UnicodeEncodeError from SQLite: `reelfind index`
    crashed, and the daemon's reconcile stopped at that file every time (later files never indexed)."""
    rt, root = indexed_root
    bad = os.path.join(os.fsencode(root), b"caf\xe9.mov")
    shutil.copy(FOOTAGE / "butterfly.mov", bad)
    later = Path(shutil.copy(FOOTAGE / "flower_vp9.webm", root / "zz_later.webm"))
    plan = rt.reconciler().reconcile(Root(root))
    assert [r.path for r in plan.todo] == [str(later)]
    assert any("not valid UTF-8" in why for _, why in plan.unreadable)


def test_the_watcher_ignores_events_for_names_that_cannot_be_catalogued(tmp_path):
    from watchdog.events import FileCreatedEvent, FileMovedEvent

    from daemon.watcher import WatchedRoot, Watcher, WorkQueue

    root = WatchedRoot(Root(tmp_path))
    w = Watcher([root], WorkQueue())
    w._on_event(FileCreatedEvent(os.path.join(os.fsencode(tmp_path), b"caf\xe9.mp4")), root)
    assert len(w.tracker) == 0
    src = str(tmp_path / "a.mp4")
    w._on_event(FileMovedEvent(src, os.path.join(os.fsencode(tmp_path), b"caf\xe9.mp4")), root)
    assert len(w.queue) == 0  # not a job for an unstorable name; the source counts as vanished
