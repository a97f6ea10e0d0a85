"""Process model of `reelfind mcp` (docs/architecture.md): the stdio server holds the data-dir lock only while
queries come in, re-opens the store fresh (seeing what other processes wrote meanwhile), and
forwards to a `reelfind serve` that starts while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import numpy as np
import pytest
from mcp import Client

from mcp_server.providers import LocalProvider, RuntimeProvider
from mcp_server.server import build_server
from mcp_server.stdio_bridge import Backends
from reelcore.ingest.discovery import Root
from reelcore.lock import DataDirLock, is_locked, read_owner
from reelcore.runtime import Runtime
from tests.conftest import REPO, tiny_env, tiny_settings
from tests.mcp_support import footage_index, free_port, live_server
from tests.synthetic import BLUE, GREEN, RED, WHITE, make_clip

pytestmark = pytest.mark.timeout(300)


def _wait(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_local_provider_releases_when_idle_and_reopens_fresh(tmp_path):
    """After an idle release another process may write; the re-opened store finds the new vectors."""
    first, second = tmp_path / "footage" / "first", tmp_path / "footage" / "second"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    make_clip(first / "one.mp4", [(2.0, RED), (2.0, BLUE)], motion=True)
    make_clip(second / "two.mp4", [(2.0, GREEN), (2.0, WHITE)], motion=True)
    s = tiny_settings(tmp_path / "data")
    rt = Runtime.open(s, "test")
    for rec in rt.reconciler().reconcile(Root(first)).todo:
        rt.indexer().index(rec)
    rt.store._client.close()  # Runtime.close() leaves the Chroma client (and its shared system) open
    rt.close()

    provider = LocalProvider(s, idle_release=60)
    try:
        assert not is_locked(s.lock_path)  # nothing opened before the first query
        svc = provider.search_service()
        before = svc.store.count()
        assert before > 0 and read_owner(s.lock_path)["command"] == "mcp"
        cli = [sys.executable, "-m", "reelfind.cli", "index", str(second)]
        busy = subprocess.run(cli, cwd=REPO, env=tiny_env(s.data_dir), capture_output=True, text=True, timeout=120)
        assert busy.returncode == 3 and "(mcp)" in busy.stderr  # a writer is refused while we hold it
        provider.idle_release = 0.5
        assert _wait(lambda: not provider.is_open) and not is_locked(s.lock_path)  # idle: given back
        done = subprocess.run(cli, cwd=REPO, env=tiny_env(s.data_dir), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]

        with provider.use() as svc:  # re-opened, and held: the 0.5 s idle release waits for us
            assert svc.store.count() > before
            rec = svc.resolve_video("two.mp4")
            frames, vecs = svc.video_frames(rec)
            hit = svc.store.query(vecs[0], 1)[0]  # the HNSW index of the re-opened store has the new frames
            assert hit.video_id == rec.video_id and hit.score == pytest.approx(1.0, abs=1e-4)
            assert np.isfinite(svc.background(vecs[0]).sigma)
    finally:
        provider.close()
    assert not is_locked(s.lock_path)


def test_idle_release_gives_the_lock_back_before_it_says_closed_and_waits_for_users(tmp_path, monkeypatch):
    """`is_open` turns False only once the data-dir lock is free (another process may take the
    index at once), and an idle release never closes the index under a caller that holds it."""
    s = tiny_settings(tmp_path / "data")
    provider = LocalProvider(s, idle_release=0)
    real_close = Runtime.close

    def slow_close(rt):  # a close that takes a while (a loaded 2-core box)
        time.sleep(0.3)
        real_close(rt)

    monkeypatch.setattr(Runtime, "close", slow_close)
    try:
        with provider.use() as svc:
            assert not provider.release(wait=0.2) and provider.is_open  # in use: kept open
            assert svc.catalog.counts() is not None
        seen: list[bool] = []
        watcher = __import__("threading").Thread(
            target=lambda: (_wait(lambda: not provider.is_open), seen.append(is_locked(s.lock_path))))
        watcher.start()
        assert provider.release(wait=1.0)
        watcher.join(10)
        assert seen == [False]  # when it said closed, the lock was already free
    finally:
        provider.close()


def test_requests_follow_a_service_that_starts_and_stops(footage, tmp_path_factory):
    """One stdio session: answered locally, then by a service that started, then locally again."""
    s = footage_index(tmp_path_factory.getbasetemp())
    s = s.model_copy(update={"server": s.server.model_copy(update={"port": free_port()})})
    provider = LocalProvider(s, idle_release=0)
    remote_rt = Runtime.open(s, "test", own_store=False)

    async def via(backends: Backends) -> dict:
        r = await backends(lambda c: c.call_tool("index_status", {}))
        assert not r.is_error, r.content[0].text
        return r.structured_content["current"] or {}

    async def main():
        async with Client(build_server(provider, warm=False)) as local:
            backends = Backends(s, local)
            try:
                first = await via(backends)
                assert is_locked(s.lock_path) and read_owner(s.lock_path)["command"] == "mcp"
                assert await anyio.to_thread.run_sync(provider.release, 10.0)
                with live_server(s, RuntimeProvider(remote_rt, extra=lambda: {"via": "http"})) as url, \
                        DataDirLock(s.lock_path) as lock:
                    lock.acquire("serve", url)  # `reelfind serve` starts
                    second = await via(backends)
                third = await via(backends)  # the service stopped: local again
            finally:
                await backends.aclose()
        return first, second, third

    try:
        first, second, third = anyio.run(main)
    finally:
        provider.close()
        remote_rt.close()
    assert "via" not in first and second["via"] == "http" and "via" not in third


def test_stdio_server_takes_no_lock_until_the_first_query(footage, tmp_path_factory, tmp_path):
    s = footage_index(tmp_path_factory.getbasetemp())
    err = (tmp_path / "err.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "mcp_server.stdio_bridge"], cwd=REPO, env=tiny_env(s.data_dir),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)

    def ask(msg: dict) -> dict | None:
        proc.stdin.write(json.dumps(msg) + "\n")
        proc.stdin.flush()
        if "id" not in msg:
            return None
        return json.loads(proc.stdout.readline())

    try:
        ask({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        ask({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = ask({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert len(tools["result"]["tools"]) == 13  # 12 tools (list_people, name_person included) + preview_clip
        assert not is_locked(s.lock_path)  # connected and listed: the index is not held
        r = ask({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": "list_videos", "arguments": {"limit": 1}}})
        assert r["result"]["structuredContent"]["total"] == 22
        assert is_locked(s.lock_path) and read_owner(s.lock_path)["pid"] == proc.pid
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        err.close()
    assert not is_locked(s.lock_path)
    assert Path(tmp_path / "err.txt").read_text().count("Traceback") == 0
