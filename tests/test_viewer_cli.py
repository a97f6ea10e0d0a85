"""Terminal parity with the viewer: `reelfind search` says the verdict above its table, and
`reelfind list` lists files with state, duration, frames and notes (real CLI subprocesses)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_env
from tests.mcp_support import footage_index

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index = footage_index(tmp_path_factory.getbasetemp()).data_dir
    dest = tmp_path_factory.mktemp("cli-data")
    shutil.copytree(index, dest, dirs_exist_ok=True)
    return dest


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("reelfind")
    return subprocess.run([str(exe), *args], env={**tiny_env(data), "COLUMNS": "200"}, capture_output=True,
                          text=True, timeout=300)


def test_list_states_and_json(data: Path) -> None:
    r = _cli(data, "list", "--json")
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)
    assert len(files) == 22 and {f["state"] for f in files} == {"indexed", "failed"}
    failed = {Path(f["path"]).name: f["error"] for f in files if f["state"] == "failed"}
    assert failed["zero_bytes.mp4"] == "empty file (0 bytes)"
    r = _cli(data, "list", "--state", "failed")
    assert r.returncode == 0, r.stderr
    assert "zero_bytes.mp4" in r.stdout and "empty file (0 bytes)" in r.stdout and "friday.mp4" not in r.stdout
    notes = _cli(data, "list", "--state", "indexed", "--path", "*truncated*")
    assert "truncated_half.mp4" in notes.stdout and "truncated file?" in notes.stdout
    bad = _cli(data, "list", "--state", "broken")
    assert bad.returncode == 2 and "--state must be one of" in bad.stderr


def test_search_prints_the_verdict_above_the_table(data: Path) -> None:
    """Random-weight scores mean nothing: the verdict line must say so before any score is shown."""
    r = _cli(data, "search", "the burning letter", "-n", "3")
    assert r.returncode == 0, r.stderr
    first = r.stdout.strip().splitlines()[0]
    assert first.split(":")[0] in ("good match", "weak match", "NO GOOD MATCH"), r.stdout
    assert r.stdout.index(first) < r.stdout.index("score")
    j = _cli(data, "search", "the burning letter", "-n", "3", "--json")
    assert j.returncode == 0 and json.loads(j.stdout) and first.split(":")[0] in j.stderr
