"""`reelfind serve` answers before its model is loaded (issue 12: start fast).

- A real `reelfind serve` process: GET /status and the MCP endpoint (initialize + tools/list)
  answer while /status still says the model is loading; `index_status` works then (vectors counted
  from the catalog, the model reported as loading); a search sent during the load waits for it,
  with progress notifications, and then succeeds (or says clearly that the model is loading).
- In-process: a search whose model load does not finish within the bound answers the clear
  "still loading" tool error, and the event loop stays free meanwhile (index_status answers).
- daemon.app.Deferred (how the MCP app and viewer are mounted after HTTP is up): behind the same
  guard before and after, 503 + Retry-After until built, its lifespan entered before it serves.
These assert states, not times: bench/serve_startup.py measures the times.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace

import anyio
import httpx
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from daemon.app import Deferred, build_app
from mcp_server import server as server_mod
from mcp_server.providers import RuntimeProvider
from reelcore.config import Settings
from reelcore.runtime import Runtime
from tests.conftest import FOOTAGE, tiny_env, tiny_settings
from tests.mcp_support import http_client
from tests.test_daemon_support import free_port, wait_for

EXE = Path(sys.executable).with_name("reelfind")
GATES = Path(__file__).with_name("gates")


def _status(port: int) -> dict | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/status", timeout=5)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


@pytest.fixture
def serve(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(FOOTAGE / "asl_book.mkv", root / "a.mkv")
    port = free_port()
    log = tmp_path / "serve.log"
    gate = tmp_path / "model-may-load"  # the model load waits for this file (tests/gates/sitecustomize.py)
    env = tiny_env(tmp_path / "data", REELFIND_ROOTS=json.dumps([{"path": str(root), "stable_seconds": 0.5}]),
                   REELFIND_SERVER__PORT=str(port), RF_TEST_MODEL_GATE=str(gate),
                   PYTHONPATH=os.pathsep.join([str(GATES), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([str(EXE), "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(log, "wb"))  # noqa: SIM115 (closed with the process)
    try:
        yield proc, port, log, gate
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        assert rc == 0, log.read_text(errors="replace")[-3000:]


def test_status_and_mcp_answer_while_the_model_loads_and_search_waits_for_it(serve) -> None:
    proc, port, log, gate = serve
    first = wait_for(lambda: _status(port), 60, interval=0.01, what="the first /status")
    # The first answer comes before the model (and before the MCP app: it is built after HTTP is up).
    assert first["model_loaded"] is False and first["model"] == "loading", first
    assert first["vectors"] == 0 and first["state"] in ("starting", "running", "waiting")
    url = f"http://127.0.0.1:{port}/mcp"
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))
        gate.touch()  # the search has said it waits for the model: now let the model load

    async def session() -> tuple:
        async with http_client(url, None) as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            after_list = _status(port)
            st = await c.call_tool("index_status", {})
            t0 = time.monotonic()
            found = await c.call_tool("search_footage", {"query": "a book", "limit": 3},
                                      progress_callback=on_progress)
            return tools, after_list, st, found, time.monotonic() - t0

    tools, after_list, st, found, took = anyio.run(session)
    assert {"search_footage", "index_status", "find_scenes"} <= tools
    assert after_list is not None and after_list["model_loaded"] is False, (
        "tools/list should answer before the model has loaded", after_list)
    assert after_list["mcp"] == "ready"
    assert not st.is_error, st.content[0].text
    status = st.structured_content
    assert status["model_loaded"] is False and status["current"]["model"] in ("loading", "loaded"), status
    assert status["vectors"] == 0 and status["model_identity"]
    if found.is_error:  # allowed: the clear answer, not a hang or an internal error
        assert "still loading" in found.content[0].text and "try again" in found.content[0].text
    else:
        assert found.structured_content["match"] in ("good", "weak", "none")
    # The search came in before the model was loaded: it reported that it waited for the load.
    assert progress and "loading the model" in (progress[0][1] or ""), (progress, took)
    assert _status(port)["model_loaded"] is True
    assert proc.poll() is None


def test_a_search_answers_model_loading_after_the_bound_and_never_blocks_the_loop(tmp_path, monkeypatch) -> None:
    """The model's load is held (its lock taken, as a load in progress holds it): the search waits
    MODEL_WAIT seconds, then says the model is loading; index_status answers during that wait."""
    monkeypatch.setattr(server_mod, "MODEL_WAIT", 1.5)
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    try:
        provider = RuntimeProvider(rt)
        mcp = server_mod.build_server(provider, warm=False)

        async def main() -> tuple:
            async with Client(mcp) as c:
                got: dict = {}

                async def search() -> None:
                    got["search"] = await c.call_tool("search_footage", {"query": "a book"})

                async with anyio.create_task_group() as tg:
                    tg.start_soon(search)
                    await anyio.sleep(0.3)
                    t0 = time.monotonic()
                    got["status"] = await c.call_tool("index_status", {})
                    got["status_took"] = time.monotonic() - t0
                    got["searching"] = "search" not in got
                return got

        with rt.embedder._lock:  # a load in progress elsewhere holds this lock
            got = anyio.run(main)
        # The search's waiting thread then loads the model itself: let it end before closing (a
        # thread inside torch's import at interpreter exit can abort the process).
        wait_for(lambda: rt.embedder.loaded, 120, interval=0.1, what="the abandoned wait's load")
    finally:
        rt.close()
    assert got["searching"], "index_status should answer while the search still waits"
    assert not got["status"].is_error and got["status"].structured_content["model_loaded"] is False
    assert got["status_took"] < 1.0
    err = got["search"]
    assert err.is_error and "still loading" in err.content[0].text and "try again" in err.content[0].text


def test_the_part_built_later_is_behind_the_same_guard_and_answers_503_until_then(tmp_path) -> None:
    """daemon.app.Deferred: before the MCP app / viewer exist, their paths need the token like any
    route and then answer 503 with Retry-After; once offered, the same guard (and the viewer's own
    `public` rule) applies to them, and the offered app's lifespan runs before it serves."""
    svc = SimpleNamespace(settings=Settings(data_dir=tmp_path, server={"require_token_on_loopback": True,
                                                                       "token": "s3cret"}),
                          status=lambda: {"state": "running"}, enqueue_paths=lambda paths: {"accepted": 0})
    late = Deferred(wait_s=0.2)
    entered: list[str] = []

    async def life(_):
        entered.append("in")
        yield
        entered.append("out")

    inner = Starlette(routes=[Route("/", lambda r: PlainTextResponse("page")),
                              Route("/mcp", lambda r: PlainTextResponse("mcp"), methods=["GET", "POST"])],
                      lifespan=asynccontextmanager(life))
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(build_app(svc, deferred=late), base_url="http://127.0.0.1:8765") as client:
        for path in ("/mcp", "/"):
            assert client.get(path).status_code == 401, path  # guarded before it exists
            r = client.get(path, headers=auth)
            assert r.status_code == 503 and r.headers["retry-after"], (path, r.text)
        assert client.get("/status", headers=auth).json() == {"state": "running"}
        late.offer(inner, inner, public=lambda scope: scope.get("path") == "/")
        wait_for(lambda: late.ready, 5, what="the offered app to be mounted")
        assert entered == ["in"]
        assert client.get("/mcp").status_code == 401  # still guarded ...
        assert client.get("/mcp", headers=auth).text == "mcp"
        assert client.get("/").text == "page"  # ... except what its own public rule allows
        assert client.get("/mcp", headers={**auth, "Host": "evil.example:8765"}).status_code == 403
    assert entered == ["in", "out"]
