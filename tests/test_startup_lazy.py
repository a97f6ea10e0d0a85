"""Start-up: `reelfind index` pays for torch/open_clip and Chroma only when it has work for them.

Real `reelfind` processes on real clips with the tiny model. The heavy modules are looked up in
the sys.modules of the process that ran the command (tests/startup_runner.py, which calls the
CLI's own app the way the console script does, then prints what was imported).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reelcore.runtime import Runtime

from .conftest import FOOTAGE, tiny_env, tiny_settings

REPO = Path(__file__).resolve().parents[1]
CLIPS = ["asl_walk.mkv", "asl_book.mkv"]
HEAVY = ("torch", "open_clip", "chromadb", "torchvision")


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reelfind.cli", *args], env=env, capture_output=True,
                          text=True, timeout=240, cwd=REPO)


def run_traced(env: dict[str, str], *args: str) -> tuple[dict, set[str]]:
    """Run a CLI command in a fresh process; its JSON summary and the heavy modules it imported."""
    r = subprocess.run([sys.executable, "-m", "tests.startup_runner", *args, "--json"], env=env,
                       capture_output=True, text=True, timeout=240, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    summary_text, _, modules_line = r.stdout.rpartition("MODULES ")
    return json.loads(summary_text), set(json.loads(modules_line)) & set(HEAVY)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, footage):
    """Two real clips indexed by the `reelfind index` console entry (main(), fast exit included)."""
    base = tmp_path_factory.mktemp("startup")
    folder, data = base / "clips", base / "data"
    folder.mkdir()
    for name in CLIPS:
        shutil.copy(FOOTAGE / name, folder / name)
    env = tiny_env(data)
    r = run_cli(env, "index", str(folder), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    return folder, data, env, json.loads(r.stdout)


def test_the_command_that_exits_fast_has_flushed_its_summary_and_committed_every_vector(indexed):
    """main() leaves with os._exit after an index run: nothing may be lost by skipping teardown."""
    folder, data, _, summary = indexed
    assert summary["indexed"] == 2 and summary["frames"] >= 4  # stdout complete and parseable
    rt = Runtime.open(tiny_settings(data), "test")
    try:
        for name in CLIPS:
            rec = rt.catalog.get(str(folder / name))
            assert rec is not None and rec.state == "indexed"
            assert len(rt.store.ids_for_video(rec.video_id)) == rec.frames >= 1
        assert rt.store.count() == summary["frames"]
    finally:
        rt.close()  # Runtime.open took the data-dir lock: the fast exit had released it


def test_unchanged_folder_imports_neither_the_model_nor_the_store(indexed):
    folder, _, env, _ = indexed
    summary, heavy = run_traced(env, "index", str(folder))
    assert summary["skipped_unchanged"] == 2 and summary["indexed"] == 0
    assert heavy == set(), f"a no-op index imported {sorted(heavy)}"


def test_a_run_with_work_does_import_them(indexed, tmp_path):
    """The check above can fail: the same runner sees torch and chromadb when a file needs embedding."""
    _, _, env, _ = indexed
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(FOOTAGE / "asl_eat_vfr.mp4", fresh / "eat.mp4")
    summary, heavy = run_traced(env, "index", str(fresh))
    assert summary["indexed"] == 1
    assert {"torch", "open_clip", "chromadb"} <= heavy


def test_a_deleted_file_opens_the_store_but_never_loads_the_model(indexed, tmp_path):
    folder, data, env, _ = indexed
    work = tmp_path / "clips"
    shutil.copytree(folder, work)  # copies reuse the stored vectors: no model needed either
    summary, heavy = run_traced(env, "index", str(work))
    assert sorted(os.path.basename(p) for p in summary["copied_reusing_vectors"]) == sorted(CLIPS)
    assert "chromadb" in heavy and not heavy & {"torch", "open_clip", "torchvision"}, heavy
    (work / CLIPS[0]).unlink()
    summary, heavy = run_traced(env, "index", str(work))
    assert summary["removed"] == [str(work / CLIPS[0])]
    assert "chromadb" in heavy and not heavy & {"torch", "open_clip", "torchvision"}, heavy
    rt = Runtime.open(tiny_settings(data), "test")
    try:
        assert rt.catalog.get(str(work / CLIPS[0])) is None
        kept = rt.catalog.get(str(work / CLIPS[1]))
        assert kept.state == "indexed" and len(rt.store.ids_for_video(kept.video_id)) == kept.frames
    finally:
        rt.close()


def test_model_identity_is_known_without_importing_torch(tmp_path):
    code = ("import sys, json; from reelcore.config import load_settings; "
            "from reelcore.channels.visual.embedder import Embedder; "
            "e = Embedder(load_settings(None).model); "
            "print(json.dumps([e.identity, e.image_size, e.dim, sorted(set(sys.modules) & {'torch', 'open_clip'})]))")
    env = tiny_env(tmp_path / "data")
    for extra, want in [({}, ["reelfind-tiny-random-64", 64, 64]),
                        ({"REELFIND_MODEL__NAME": "ViT-B-32", "REELFIND_MODEL__PRETRAINED": "laion2b_s34b_b79k"},
                         ["ViT-B-32-laion2b_s34b_b79k-224", 224, 512])]:
        r = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                           timeout=60, cwd=REPO)
        assert r.returncode == 0, r.stderr[-2000:]
        identity, size, dim, heavy = json.loads(r.stdout)
        assert [identity, size, dim] == want and heavy == []
