"""Indexing engine end to end: real footage, bad files, idempotency, moves, changes, resume, server mode."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reelcore.ingest.discovery import Root
from reelcore.media.decode import probe
from reelcore.query.search import SearchService
from reelcore.runtime import Runtime

from .conftest import BAD, FOOTAGE, TINY_MODEL, real_clips, tiny_env, tiny_settings
from .store_support import stored_ids

REELFIND = [sys.executable, "-m", "reelfind.cli"]


@pytest.fixture(scope="module")
def footage_index(tmp_path_factory, footage):
    """The whole shared footage folder (good and bad files) indexed once with the tiny model."""
    data = tmp_path_factory.mktemp("footage-index")
    rt = Runtime.open(tiny_settings(data), "test")
    plan = rt.reconciler().reconcile(Root(footage))
    outcomes = {o.path: o for o in (rt.indexer().index(r) for r in plan.todo)}
    yield rt, outcomes
    rt.close()


def test_every_real_clip_is_indexed_with_frames(footage_index):
    rt, _ = footage_index
    for clip in real_clips():
        rec = rt.catalog.get(str(clip))
        assert rec is not None and rec.state == "indexed", (clip, rec and rec.error)
        assert rec.frames >= 1
        assert len(rt.store.ids_for_video(rec.video_id)) == rec.frames


def test_frame_spans_cover_each_clip_duration_without_holes(footage_index):
    rt, _ = footage_index
    interval = rt.settings.sampling.interval
    for clip in real_clips():
        rec = rt.catalog.get(str(clip))
        frames, _ = rt.store.video_frames(rec.video_id)
        assert frames[0].t_start == 0.0
        for a, b in zip(frames, frames[1:], strict=False):
            assert a.t_end == pytest.approx(b.t_start, abs=1e-3), clip
        duration = probe(clip).duration
        assert abs(frames[-1].t_end - duration) <= interval, (clip, frames[-1].t_end, duration)


def test_every_frame_has_a_jpeg_thumbnail(footage_index):
    rt, _ = footage_index
    for clip in real_clips():
        rec = rt.catalog.get(str(clip))
        frames, _ = rt.store.video_frames(rec.video_id)
        for f in frames:
            thumb = rt.thumbs.path(f.video_id, f.t_start)
            assert thumb.read_bytes()[:2] == b"\xff\xd8", thumb


@pytest.mark.parametrize(
    ("name", "state", "reason"),
    [
        ("zero_bytes.mp4", "failed", "empty file"),
        ("text_renamed.mp4", "failed", "not a video"),
        ("audio_only.mp4", "failed", "no video stream"),
        ("truncated_half.mp4", "indexed", "truncated"),
        ("corrupted_middle.mp4", "indexed", None),
        ("moov_at_end.mp4", "indexed", None),
        ("one_frame.mp4", "indexed", None),
        ("short_0.4s.mp4", "indexed", None),
    ],
)
def test_bad_files_end_indexed_or_failed_with_a_one_line_reason(footage_index, name, state, reason):
    rt, _ = footage_index
    rec = rt.catalog.get(str(BAD / name))
    assert rec.state == state, (name, rec.error)
    if state == "failed":
        assert reason in rec.error and "\n" not in rec.error
        assert rt.store.ids_for_video(rec.video_id) == []
    else:
        assert rec.frames >= 1
        if reason:
            assert reason in (rec.note or "")


def test_truncated_file_keeps_only_decodable_part(footage_index):
    rt, _ = footage_index
    rec = rt.catalog.get(str(BAD / "truncated_half.mp4"))
    frames, _ = rt.store.video_frames(rec.video_id)
    assert frames[-1].t_end < 4.0  # about 3.2 s decodes out of 6.2 s


def test_one_frame_clip_gives_exactly_one_frame_at_zero(footage_index):
    rt, _ = footage_index
    rec = rt.catalog.get(str(BAD / "one_frame.mp4"))
    frames, _ = rt.store.video_frames(rec.video_id)
    assert len(frames) == 1 and frames[0].t_start == 0.0 and frames[0].t_end > 0


def test_search_returns_moments_inside_file_durations(footage_index):
    rt, _ = footage_index
    svc = SearchService(rt.settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
    moments = svc.search_text("a red car at night", limit=10)
    assert moments
    for m in moments:
        duration = rt.catalog.get(m.path).duration or probe(m.path).duration
        assert 0 <= m.start <= m.peak <= m.end <= duration + 0.05
        assert m.thumbnail and Path(m.thumbnail).exists()
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)


def test_path_glob_and_time_filters_restrict_results(footage_index):
    rt, _ = footage_index
    svc = SearchService(rt.settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
    moments = svc.search_text("cars", limit=5, path_glob="*car-detection*", t_from=10, t_to=20)
    assert moments and all("car-detection" in m.path for m in moments)
    assert all(m.end > 10 and m.start < 20 for m in moments)


def test_reindexing_an_unchanged_folder_decodes_nothing(footage_index, footage):
    rt, _ = footage_index
    plan = rt.reconciler().reconcile(Root(footage))
    assert plan.todo == []
    assert plan.unchanged == len(real_clips()) + 5  # + the decodable bad files
    assert len(plan.failed_unchanged) == 3


# -- moves, changes ---------------------------------------------------------------------------
@pytest.fixture()
def small_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for n in ("asl_book.mkv", "asl_walk.mkv"):
        shutil.copy(FOOTAGE / n, root / n)
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    for rec in rt.reconciler().reconcile(Root(root)).todo:
        rt.indexer().index(rec)
    yield rt, root
    rt.close()


def test_renamed_and_moved_files_keep_their_vectors(small_root):
    rt, root = small_root
    before = rt.catalog.get(str(root / "asl_book.mkv"))
    ids_before = set(rt.store.ids_for_video(before.video_id))
    (root / "sub").mkdir()
    (root / "asl_book.mkv").rename(root / "sub" / "book renamed.mkv")
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.todo == [] and plan.removed == []
    assert plan.moved == [(str(root / "asl_book.mkv"), str(root / "sub" / "book renamed.mkv"))]
    after = rt.catalog.get(str(root / "sub" / "book renamed.mkv"))
    assert after.video_id == before.video_id and after.state == "indexed"
    assert set(rt.store.ids_for_video(after.video_id)) == ids_before
    frames, _ = rt.store.video_frames(after.video_id)
    assert {f.path for f in frames} == {after.path}


def test_modified_file_is_reindexed_and_old_vectors_removed_after(small_root):
    rt, root = small_root
    target = root / "asl_walk.mkv"
    old = rt.catalog.get(str(target))
    shutil.copy(FOOTAGE / "asl_eat_vfr.mp4", target)  # new content under the same name
    plan = rt.reconciler().reconcile(Root(root))
    assert [r.path for r in plan.todo] == [str(target)]
    rec = plan.todo[0]
    assert rec.video_id != old.video_id and rec.stale_video_id == old.video_id
    # Until the new vectors are in, the old ones stay searchable.
    assert rt.store.ids_for_video(old.video_id)
    rt.indexer().index(rec)
    assert rt.store.ids_for_video(old.video_id) == []
    new = rt.catalog.get(str(target))
    assert new.state == "indexed" and len(rt.store.ids_for_video(new.video_id)) == new.frames


def test_deleted_file_loses_vectors_when_root_present(small_root):
    rt, root = small_root
    rec = rt.catalog.get(str(root / "asl_book.mkv"))
    (root / "asl_book.mkv").unlink()
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.removed == [rec.path]
    assert rt.store.ids_for_video(rec.video_id) == [] and rt.catalog.get(rec.path) is None


def test_unmounted_root_deletes_nothing_and_marks_files_unavailable(small_root, tmp_path):
    rt, root = small_root
    n_before = rt.store.count()
    root.rename(tmp_path / "elsewhere")
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.removed == [] and rt.store.count() == n_before
    assert all(r.unavailable for r in rt.catalog.in_root(str(root)))
    (tmp_path / "elsewhere").rename(root)
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.todo == [] and not any(r.unavailable for r in rt.catalog.in_root(str(root)))


# -- CLI, resume ----------------------------------------------------------------------------------
def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(REELFIND + args, env=env, capture_output=True, text=True, timeout=timeout)


def test_cli_index_then_search_and_status_as_json(tmp_path):
    env = tiny_env(tmp_path / "data")
    root = tmp_path / "clips"
    root.mkdir()
    shutil.copy(FOOTAGE / "asl_book.mkv", root)
    shutil.copy(BAD / "zero_bytes.mp4", root)
    r = run_cli(["index", str(root), "--json"], env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 1 and summary["failed"][0]["reason"] == "empty file (0 bytes)"
    r = run_cli(["index", str(root), "--json"], env)
    assert json.loads(r.stdout)["skipped_unchanged"] == 1 and json.loads(r.stdout)["indexed"] == 0
    r = run_cli(["search", "a woman signing", "--json", "-n", "3"], env)
    assert r.returncode == 0, r.stderr
    moments = json.loads(r.stdout)
    assert moments and moments[0]["path"].endswith("asl_book.mkv")
    r = run_cli(["status", "--json"], env)
    st = json.loads(r.stdout)
    assert st["counts"]["indexed"] == 1 and st["counts"]["failed"] == 1
    assert st["model_identity"] == "reelfind-tiny-random-64"


def test_invalid_config_is_one_error_naming_the_key_exit_2(tmp_path):
    r = run_cli(["status"], tiny_env(tmp_path, REELFIND_MODEL__BATCH_SIZE="lots"))
    assert r.returncode == 2 and "model.batch_size" in r.stderr and "Traceback" not in r.stderr
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[sampling]\nintervall = 2\n')
    r = run_cli(["status", "--config", str(cfg)], tiny_env(tmp_path))
    assert r.returncode == 2 and "sampling.intervall" in r.stderr


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    env = tiny_env(tmp_path / "data", REELFIND_MODEL__PRETRAINED=str(tmp_path / "nope.pt"))
    r = run_cli(["index", str(FOOTAGE / "asl_book.mkv")], env)
    assert r.returncode == 2
    assert "checkpoint not found" in r.stderr and "Traceback" not in r.stderr


def test_second_writer_is_refused_while_the_store_is_owned(tmp_path):
    settings = tiny_settings(tmp_path / "data")
    rt = Runtime.open(settings, "serve")
    try:
        r = run_cli(["index", str(FOOTAGE / "asl_book.mkv")], tiny_env(tmp_path / "data"))
        assert r.returncode == 3 and "in use by pid" in r.stderr
    finally:
        rt.close()


def _frame_keys(data_dir: Path) -> set[tuple[str, str]]:
    """(path, frame time) for every stored id; video ids are random per index, times are not."""
    rt = Runtime.open(tiny_settings(data_dir), "test")
    try:
        ids = stored_ids(rt.store)
        by_video = {r.video_id: r.path for r in rt.catalog.all()}
        keys = {(by_video[i.split(":")[0]], i.split(":")[1]) for i in ids}
        assert len(keys) == len(ids)
        assert sum(r.frames for r in rt.catalog.all()) == len(ids)
        return keys
    finally:
        rt.close()


def test_kill_9_mid_run_then_resume_gives_the_clean_run_id_set(tmp_path):
    root = tmp_path / "clips"
    root.mkdir()
    for n in ("car-detection.mp4", "big_buck_bunny_0_30.webm", "asl_walk.mkv"):
        shutil.copy(FOOTAGE / n, root)
    clean = tmp_path / "clean"
    assert run_cli(["index", str(root)], tiny_env(clean, REELFIND_MODEL__BATCH_SIZE="4")).returncode == 0

    killed = tmp_path / "killed"
    env = tiny_env(killed, REELFIND_MODEL__BATCH_SIZE="4")
    proc = subprocess.Popen(REELFIND + ["index", str(root)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    cursor = None
    while time.time() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(killed / "catalog.sqlite3") as db:
                cursor = db.execute(
                    "SELECT cursor_ms FROM files WHERE state = 'indexing' AND cursor_ms > 0").fetchone()
        except sqlite3.Error:
            cursor = None
        if cursor:
            break
        time.sleep(0.02)
    assert cursor, "never saw a file mid-index"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(killed / "catalog.sqlite3") as db:
        states = [s for (s,) in db.execute("SELECT state FROM files")]
    assert "indexing" in states  # the kill really landed mid-file
    assert run_cli(["index", str(root)], env).returncode == 0
    assert _frame_keys(killed) == _frame_keys(clean)


# -- server mode ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def chroma_server(tmp_path):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "chroma-server"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma run did not start")
    url = f"http://127.0.0.1:{port}"
    _CHROMA_PROCS[url] = proc
    yield url
    proc.terminate()
    proc.wait(10)
    del _CHROMA_PROCS[url]


_CHROMA_PROCS: dict[str, subprocess.Popen] = {}


def chroma_server_proc(url: str) -> subprocess.Popen:
    return _CHROMA_PROCS[url]


def test_server_mode_indexes_and_searches_through_a_real_chroma_server(tmp_path, chroma_server):
    import chromadb

    settings = tiny_settings(tmp_path / "data", store={"url": chroma_server})
    rt = Runtime.open(settings, "test")
    try:
        plan = rt.reconciler().reconcile(Root(FOOTAGE), scope=FOOTAGE / "asl_book.mkv")
        [rt.indexer().index(r) for r in plan.todo]
        rec = rt.catalog.get(str(FOOTAGE / "asl_book.mkv"))
        assert rec.state == "indexed"
        svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        assert svc.search_text("a woman", limit=3)[0].path == rec.path
    finally:
        rt.close()
    # Another process-independent client sees the same vectors through the server.
    port = int(chroma_server.rsplit(":", 1)[1])
    client = chromadb.HttpClient(host="127.0.0.1", port=port)
    col = client.get_collection(f"reelfind-{rt.embedder.identity}")
    assert col.count() == rec.frames
    hnsw = (col.configuration_json or {}).get("hnsw")
    assert hnsw is not None and hnsw["space"] == "cosine", col.configuration_json


def test_copied_file_reuses_vectors_without_embedding(small_root):
    rt, root = small_root
    src = rt.catalog.get(str(root / "asl_book.mkv"))
    shutil.copy(root / "asl_book.mkv", root / "asl_book copy.mkv")
    plan = rt.reconciler().reconcile(Root(root))
    assert plan.todo == [] and plan.copied == [str(root / "asl_book copy.mkv")]
    copy = rt.catalog.get(str(root / "asl_book copy.mkv"))
    assert copy.state == "indexed" and copy.frames == src.frames and copy.video_id != src.video_id
    _, v_src = rt.store.video_frames(src.video_id, with_vectors=True)
    frames, v_copy = rt.store.video_frames(copy.video_id, with_vectors=True)
    # Chroma re-normalises cosine vectors on insert: equal up to float32 rounding.
    assert np.allclose(v_src, v_copy, atol=1e-6) and {f.path for f in frames} == {copy.path}
    assert all(rt.thumbs.path(copy.video_id, f.t_start).exists() for f in frames)


def test_search_never_opens_a_store_another_process_owns(tmp_path):
    """`reelfind search` beside a running `reelfind index` refuses clearly (it used to open the
    embedded store behind the owner's back: unsafe, and stale reads)."""
    settings = tiny_settings(tmp_path / "data")
    rt = Runtime.open(settings, "index")
    try:
        r = run_cli(["search", "a woman", "--json"], tiny_env(tmp_path / "data"))
        assert r.returncode == 3 and "in use by pid" in r.stderr and "(index)" in r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""
    finally:
        rt.close()


def test_unreachable_chroma_server_is_one_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = tiny_env(tmp_path / "data", REELFIND_STORE__URL=f"http://127.0.0.1:{port}")
    for args in (["index", str(FOOTAGE / "asl_book.mkv")], ["search", "a woman"]):
        r = run_cli(args, env)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "Chroma server" in r.stderr


TINY_MODEL_B = {**TINY_MODEL, "name": "reelfind-tiny-b",
                "config_path": str(Path(TINY_MODEL["config_path"]).with_name("reelfind-tiny-b.json"))}


def test_switching_models_restarts_a_half_indexed_file_from_the_beginning(small_root, tmp_path):
    """A real switch: a second model (another identity, so another collection) indexes a file the
    first one finished. Its cursor says "done up to the last frame" for the OLD collection: without
    the reset every frame would be skipped and the new collection would stay empty."""
    rt, root = small_root
    path = str(root / "asl_book.mkv")
    old = rt.catalog.get(path)
    full = old.frames
    rt_b = Runtime.open(tiny_settings(tmp_path / "data", model=dict(TINY_MODEL_B)), "test", own_store=False)
    try:
        assert rt_b.embedder.identity != rt.embedder.identity and rt_b.store.name != rt.store.name
        rec = rt_b.catalog.get(path)
        assert rec.cursor_ms is not None and rt_b.reconciler().needs_index(rec)
        assert rt_b.indexer().index(rec).state == "indexed"
        rec = rt_b.catalog.get(path)
        assert rec.model_identity == rt_b.embedder.identity
        assert rec.frames == full == len(rt_b.store.ids_for_video(rec.video_id))
        # The new vectors are the new model's own (another embedding, not a copy) and searchable.
        _, v_old = rt.store.video_frames(old.video_id, with_vectors=True)
        _, v_new = rt_b.store.video_frames(rec.video_id, with_vectors=True)
        assert v_new.shape == v_old.shape and not np.allclose(v_new, v_old, atol=1e-3)
        svc = SearchService(rt_b.settings, rt_b.catalog, rt_b.store, rt_b.embedder, rt_b.thumbs)
        assert svc.search_text("a woman", limit=3)[0].path == path
        # The old model's collection is left as it was.
        assert len(rt.store.ids_for_video(old.video_id)) == full
    finally:
        rt_b.close()


def test_a_store_outage_is_not_blamed_on_the_file(tmp_path, chroma_server):
    from reelcore.storage.store import StoreError

    settings = tiny_settings(tmp_path / "data", store={"url": chroma_server})
    rt = Runtime.open(settings, "test")
    try:
        plan = rt.reconciler().reconcile(Root(FOOTAGE), scope=FOOTAGE / "asl_walk.mkv")
        chroma_server_proc(chroma_server).terminate()
        chroma_server_proc(chroma_server).wait(10)
        with pytest.raises(StoreError, match="vector store"):
            rt.indexer().index(plan.todo[0])
        rec = rt.catalog.get(str(FOOTAGE / "asl_walk.mkv"))
        assert rec.state != "failed" and rec.attempts == 0
    finally:
        rt.close()


def test_collection_names_stay_valid_and_distinct_when_shortened():
    from reelcore.storage.store import collection_name

    a = collection_name("reelfind", "x" * 80 + "-a")
    b = collection_name("reelfind", "x" * 80 + "-b")
    assert a != b and len(a) <= 63 and len(b) <= 63
    assert collection_name("reelfind", "ViT-B-32-laion2b_s34b_b79k-224") == "reelfind-ViT-B-32-laion2b_s34b_b79k-224"
    assert collection_name("rf", "odd-" + "y" * 57 + "_")[-1].isalnum()


def test_two_checkpoints_with_the_same_file_name_get_different_identities(tmp_path):
    from reelcore.channels.visual.embedder import Embedder
    from reelcore.config import ModelSettings

    ids = []
    for sub, content in (("a", b"one" * 1000), ("b", b"two" * 1000)):
        ckpt = tmp_path / sub / "open_clip_pytorch_model.bin"
        ckpt.parent.mkdir()
        ckpt.write_bytes(content)
        ids.append(Embedder(ModelSettings(name="ViT-B-32", pretrained=str(ckpt))).identity)
    assert ids[0] != ids[1] and all(i.startswith("ViT-B-32-open_clip_pytorch_model-") for i in ids)


def test_cli_summary_reports_moves_and_copies(tmp_path):
    env = tiny_env(tmp_path / "data")
    root = tmp_path / "clips"
    root.mkdir()
    shutil.copy(FOOTAGE / "asl_book.mkv", root)
    assert run_cli(["index", str(root)], env).returncode == 0
    shutil.copy(root / "asl_book.mkv", root / "copy.mkv")
    (root / "asl_book.mkv").rename(root / "moved.mkv")
    summary = json.loads(run_cli(["index", str(root), "--json"], env).stdout)
    assert summary["indexed"] == 0
    # Which of the two identical files counts as the move and which as the copy is up to the scan order.
    assert len(summary["moved"]) == 1 and len(summary["copied_reusing_vectors"]) == 1
