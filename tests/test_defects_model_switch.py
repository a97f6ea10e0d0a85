"""Issue 10 item 1: a model switch interrupted right after a file starts under the new model (the
new identity is in the catalog, no batch of the new model is stored yet) must not leave the new
collection short of frames. The indexer used to write the new model_identity beside the OLD
model's cursor_ms/frames: the next run resumed past frames the new model never embedded, and the
catalog said `indexed` with about half the vectors missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime

from .conftest import FOOTAGE, TINY_MODEL, tiny_env, tiny_settings

TINY_B = {**TINY_MODEL, "name": "reelfind-tiny-b",
          "config_path": str(Path(TINY_MODEL["config_path"]).with_name("reelfind-tiny-b.json"))}
CLIP = "car-detection.mp4"  # 30 s: ~30 frames, several batches of 4


def _env_b(data: Path) -> dict[str, str]:
    return tiny_env(data, REELFIND_MODEL__NAME=TINY_B["name"], REELFIND_MODEL__CONFIG_PATH=TINY_B["config_path"],
                    REELFIND_MODEL__BATCH_SIZE="4")


def _index_with_a(tmp_path: Path) -> tuple[Path, Path, int]:
    root = tmp_path / "clips"
    root.mkdir()
    shutil.copy(FOOTAGE / CLIP, root / CLIP)
    data = tmp_path / "data"
    rt = Runtime.open(tiny_settings(data, model={**TINY_MODEL, "batch_size": 4}), "test")
    try:
        for rec in rt.reconciler().reconcile(Root(root)).todo:
            assert rt.indexer().index(rec).state == "indexed"
        rec = rt.catalog.get(str(root / CLIP))
        assert rec.frames > 8 and rec.cursor_ms and rec.cursor_ms > 20_000
        return root, data, rec.frames
    finally:
        rt.close()


def _check_b_complete(data: Path, path: str, frames: int) -> None:
    rt = Runtime.open(tiny_settings(data, model={**TINY_B, "batch_size": 4}), "test")
    try:
        rec = rt.catalog.get(path)
        assert rec.state == "indexed" and rec.model_identity == rt.embedder.identity
        stored = rt.store.ids_for_video(rec.video_id)
        assert len(stored) == rec.frames == frames, (len(stored), rec.frames, frames)
    finally:
        rt.close()


def test_stop_right_after_the_identity_write_then_finish_gives_every_frame(tmp_path):
    root, data, frames = _index_with_a(tmp_path)
    path = str(root / CLIP)
    rt = Runtime.open(tiny_settings(data, model={**TINY_B, "batch_size": 4}), "test")
    try:
        stop = threading.Event()
        real_update = rt.catalog.update

        def update(p, **changes):  # the exact moment: identity written, nothing of model B stored
            real_update(p, **changes)
            if changes.get("state") == "indexing" and "model_identity" in changes:
                stop.set()

        rt.catalog.update = update  # type: ignore[method-assign]
        [rec] = rt.reconciler().reconcile(Root(root)).todo
        assert rt.indexer().index(rec, stop).state == "interrupted"
        rt.catalog.update = real_update  # type: ignore[method-assign]
        row = rt.catalog.get(path)
        assert row.model_identity == rt.embedder.identity
        assert row.cursor_ms is None and row.frames == 0, "new identity written beside the old cursor"
        assert len(rt.store.ids_for_video(row.video_id)) == 0  # really before the first batch
        [rec] = rt.reconciler().reconcile(Root(root)).todo
        assert rt.indexer().index(rec).state == "indexed"
    finally:
        rt.close()
    _check_b_complete(data, path, frames)


def test_kill_9_right_after_the_identity_write_then_rerun_gives_every_frame(tmp_path):
    """The same point through real processes: `reelfind index` under model B SIGKILLs itself the
    instant the catalog update that carries the new identity returns; a second run finishes."""
    root, data, frames = _index_with_a(tmp_path)
    env = _env_b(data)
    env["REELFIND_TEST_CRASH"] = "reelcore.storage.catalog:Catalog.update:after:state=indexing,model_identity"
    r = subprocess.run([sys.executable, "-m", "tests.crashpoints", "--", "index", str(root)], env=env,
                       capture_output=True, text=True, timeout=180, cwd=Path(__file__).parents[1])
    assert r.returncode == -9 and "crashpoint reached" in r.stderr, r.stderr[-2000:]
    env.pop("REELFIND_TEST_CRASH")
    r = subprocess.run([sys.executable, "-m", "reelfind.cli", "index", str(root)], env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    _check_b_complete(data, str(root / CLIP), frames)
    assert os.path.exists(data / "catalog.sqlite3")
