"""The MCP server end to end on an index of ../shared/footage (tiny random-weight open_clip model):
a real MCP client in memory, over streamable HTTP (uvicorn on a loopback port) and over stdio."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from PIL import Image
from pydantic import SecretStr

from mcp_server.providers import RuntimeProvider
from mcp_server.server import build_server
from reelcore.lock import DataDirLock, is_locked
from reelcore.runtime import Runtime
from tests.conftest import REPO, tiny_env
from tests.mcp_support import (
    check_structured,
    footage_index,
    free_port,
    http_client,
    image_blocks,
    live_server,
    png_base64,
    stdio_params,
)

pytestmark = pytest.mark.timeout(300)

TOOLS = {"search_footage", "find_scenes", "similar_moments", "search_by_image", "score_timeline", "get_frame",
         "list_people", "name_person",
         "list_videos", "index_status", "get_transcript", "export_moments",
         "preview_clip"}  # preview_clip: the viewer app's tool (mcp_server/apps.py)
WRITES = {"name_person"}  # changes the user's data (names): annotated readOnlyHint false
TOKEN = "test-token-123"


@pytest.fixture(scope="module")
def settings(footage, tmp_path_factory):
    return footage_index(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def runtime(settings):
    rt = Runtime.open(settings, "test", own_store=False)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def server(runtime):
    return build_server(RuntimeProvider(runtime))


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


# Valid calls of every tool on the shared footage.
CALLS = [
    ("search_footage", {"query": "a rabbit in a forest", "limit": 5, "thumbnails": 2}),
    ("search_footage", {"query": "cars in a parking lot", "exclude": "people", "path_glob": "*.mp4"}),
    ("find_scenes", {"all_of": ["a car", "a parking lot"], "threshold_z": 0.5}),
    ("find_scenes", {"description": "a butterfly on a flower", "limit": 3}),
    # threshold 0: the best frames of a concept are above its background median, so scenes exist.
    ("find_scenes", {"description": "a red car", "threshold_z": 0.0, "limit": 3}),
    ("similar_moments", {"video": "car-detection.mp4", "time": 5.0}),
    ("search_by_image", {"video": "friday.mp4", "time": 1.0, "limit": 3}),
    ("search_by_image", {"image_base64": png_base64((200, 40, 40)), "limit": 3}),
    ("score_timeline", {"video": "big_buck_bunny_0_30.webm", "query": "a big rabbit", "peaks": 3}),
    ("get_frame", {"video": "sintel_excerpt_a.mp4", "time": 3.3}),
    ("list_videos", {"limit": 5}),
    ("index_status", {}),
]


async def _call_all(client: Client) -> dict[str, list]:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    out: dict[str, list] = {}
    for name, args in CALLS:
        r = await client.call_tool(name, args)
        out.setdefault(name, []).append((check_structured(tools[name], r), r))
    return out


def _check_answers(out: dict[str, list], settings) -> None:
    for sc, _r in out["search_footage"]:
        assert sc["match"] in ("good", "weak", "none") and sc["message"]
        assert sc["moments"], "the index is not empty: the closest frames are always returned"
        for m in sc["moments"]:
            assert m["start"] <= m["peak"] <= m["end"]
            assert m["uri"].startswith("file:///") and "#t=" in m["uri"]
            assert Path(m["path"]).is_file()
    sc, r = out["search_footage"][0]
    assert len(image_blocks(r)) == 2  # thumbnails=2: JPEG previews of the top two
    assert all(m["name"].endswith(".mp4") for m in out["search_footage"][1][0]["moments"])
    for sc, _r in out["find_scenes"]:
        assert sc["videos_scanned"] >= 1
        for s in sc["scenes"]:
            assert s["start"] <= s["peak"] < s["end"] and set(s["concepts"]) == set(sc["concepts"])
    low = out["find_scenes"][2][0]  # the threshold-0 call: the scene checks above ran on real scenes
    assert low["scenes"] and all(s["thumbnail"] for s in low["scenes"]), low
    assert out["find_scenes"][0][0]["concepts"] == ["a car", "a parking lot"]
    sc, r = out["similar_moments"][0]
    assert sc["moments"] and len(image_blocks(r)) >= 1
    sc, r = out["score_timeline"][0]
    assert sc["frames"] == len(sc["points"]) and sc["duration"] == pytest.approx(30.0, abs=0.1)
    assert 1 <= len(sc["peaks"]) <= 3 and sc["background"]["sample_size"] > 0
    imgs = image_blocks(r)
    assert imgs[0].format == "PNG" and imgs[0].width == 800
    sc, r = out["get_frame"][0]
    assert sc["start"] <= 3.3 < sc["end"] and Path(sc["thumbnail"]).is_relative_to(settings.thumbs_dir)
    assert [im.format for im in image_blocks(r)] == ["JPEG"]
    sc, _ = out["list_videos"][0]
    assert sc["total"] == 22 and len(sc["videos"]) == 5
    sc, _ = out["index_status"][0]
    assert sc["model_identity"].startswith("reelfind-tiny") and sc["vectors"] == sc["counts"]["frames"] > 0
    assert {Path(f["path"]).name for f in sc["failed"]} == {"audio_only.mp4", "text_renamed.mp4", "zero_bytes.mp4"}
    assert all(f["reason"] for f in sc["failed"])


def test_tools_listed_with_typed_schemas_and_read_only_hints(server):
    async def main():
        async with Client(server) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            resources = (await c.list_resources()).resources
            prompts = (await c.list_prompts()).prompts
        return tools, resources, prompts

    tools, resources, prompts = run(main)
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.description and len(t.description) > 40, t.name
        assert t.annotations.read_only_hint is (t.name not in WRITES) and t.annotations.destructive_hint is False
        assert t.output_schema and t.output_schema["type"] == "object"
    props = tools["search_footage"].input_schema["properties"]
    assert props["query"]["maxLength"] == 1000 and props["query"]["minLength"] == 1
    assert props["limit"]["minimum"] == 1 and props["limit"]["maximum"] == 200
    assert tools["search_footage"].input_schema["required"] == ["query"]
    assert tools["get_frame"].input_schema["properties"]["time"]["minimum"] == 0
    assert set(tools["get_frame"].input_schema["required"]) == {"video", "time"}
    assert "match" in tools["search_footage"].output_schema["properties"]
    # the viewer's MCP App resource (mcp_server/apps.py) comes first: extensions register at construction
    assert [str(r.uri) for r in resources] == ["ui://reelfind/viewer.html", "reelfind://videos"]
    assert {p.name for p in prompts} == {"find_moments", "where_in_video"}


def test_every_tool_in_memory(server, settings):
    async def main():
        async with Client(server) as c:
            return await _call_all(c)

    _check_answers(run(main), settings)


def test_legacy_handshake_clients(server):
    """Clients on the initialize handshake (e.g. current desktop apps) get the same tools."""
    async def main():
        async with Client(server, mode="legacy") as c:
            version = c.protocol_version
            names = {t.name for t in (await c.list_tools()).tools}
            r = await c.call_tool("get_frame", {"video": "friday.mp4", "time": 2})
        return version, names, r

    version, names, r = run(main)
    assert not version.startswith("2026") and names == TOOLS
    assert not r.is_error and [im.format for im in image_blocks(r)] == ["JPEG"]


BAD = [
    ("search_footage", {"query": ""}, "at least 1 character"),
    ("search_footage", {"query": "   "}, "query is empty"),
    ("search_footage", {"query": "x" * 10_000}, "at most 1000 characters"),
    ("search_footage", {"query": "a", "limit": 0}, "greater than or equal to 1"),
    ("search_footage", {"query": "a", "limit": 10**6}, "less than or equal to 200"),
    ("search_footage", {"query": 42}, "valid string"),
    ("search_footage", {"query": "a", "limit": "many"}, "valid integer"),
    ("search_footage", {}, "required"),
    ("get_frame", {"video": "no_such_video.mp4", "time": 1}, "no indexed video is called"),
    ("get_frame", {"video": "../../etc/passwd", "time": 1}, "'..' is not allowed"),
    ("get_frame", {"video": "/etc/passwd", "time": 1}, "not an indexed video"),
    ("get_frame", {"video": "file:///etc/shadow", "time": 1}, "not an indexed video"),
    ("get_frame", {"video": "friday.mp4", "time": -1}, "greater than or equal to 0"),
    ("get_frame", {"video": "friday.mp4", "time": 1e6}, "past the end"),
    ("get_frame", {"video": "zero_bytes.mp4", "time": 0}, "could not be indexed: empty file"),
    ("score_timeline", {"video": "friday.mp4", "query": ""}, "at least 1 character"),
    ("similar_moments", {"video": "friday.mp4", "time": 99}, "past the end"),
    ("search_by_image", {"image_base64": "this is not base64!"}, "not valid base64"),
    ("search_by_image", {"image_base64": "aGVsbG8gd29ybGQ="}, "does not decode to an image"),
    ("search_by_image", {}, "either image_base64, or video and time"),
    ("search_by_image", {"video": "friday.mp4"}, "also give time"),
    ("find_scenes", {}, "give a description, all_of"),
    ("find_scenes", {"all_of": ["a"] * 9}, "at most 8 items"),
    ("list_videos", {"limit": 0}, "greater than or equal to 1"),
    ("list_videos", {"state": "lost"}, "'pending', 'indexing', 'indexed' or 'failed'"),
    ("no_such_tool", {}, "Unknown tool"),
]


def test_bad_input_gives_clear_tool_errors_and_the_server_stays_up(server):
    async def main():
        errors = []
        async with Client(server) as c:
            for name, args, _ in BAD:
                r = await c.call_tool(name, args)
                errors.append((r.is_error, r.content[0].text))
                ok = await c.call_tool("list_videos", {"limit": 1})  # still answering
                assert not ok.is_error
        return errors

    for (name, args, expected), (is_error, text) in zip(BAD, run(main), strict=True):
        assert is_error, (name, args)
        assert expected in text, (name, args, text)
        assert "Traceback" not in text and len(text) < 2000


def test_video_list_resource_and_prompts(server):
    async def main():
        async with Client(server) as c:
            res = await c.read_resource("reelfind://videos")
            prompt = await c.get_prompt("where_in_video", {"video": "trailer.mp4", "description": "the dragon"})
        return res, prompt

    res, prompt = run(main)
    videos = json.loads(res.contents[0].text)
    assert res.contents[0].mime_type == "application/json" and len(videos) == 22
    assert {v["state"] for v in videos} == {"indexed", "failed"}
    assert "score_timeline" in prompt.messages[0].content.text


def test_streamable_http_with_bearer_token(runtime, settings):
    s = settings.model_copy(update={"server": settings.server.model_copy(
        update={"port": free_port(), "token": SecretStr(TOKEN)})})

    async def main(url: str):
        for bad in (None, "wrong-token"):
            # The transport turns the 401 into an MCPError inside the client's task-group
            # exception group; the raw HTTP checks below show it is the 401.
            with pytest.raises((MCPError, BaseExceptionGroup)) as refused:
                async with http_client(url, bad) as c:
                    await c.list_tools()
            leaf = refused.value
            while isinstance(leaf, BaseExceptionGroup):
                leaf = leaf.exceptions[0]
            assert isinstance(leaf, MCPError), repr(leaf)
        async with http_client(url, TOKEN) as c:
            out = await _call_all(c)
            # A photo-sized image (over the SDK's default 4 MiB body limit once base64-encoded).
            noise = np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(noise).save(buf, "PNG")
            assert len(buf.getvalue()) > 4 * 1024 * 1024
            big = await c.call_tool("search_by_image", {"image_base64": base64.b64encode(buf.getvalue()).decode()})
            assert not big.is_error, big.content[0].text
            return out

    with live_server(s, RuntimeProvider(runtime)) as url:
        base = url.rsplit("/mcp", 1)[0]
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        hdrs = {"Accept": "application/json, text/event-stream"}
        assert httpx.post(url, json=init, headers=hdrs).status_code == 401
        r = httpx.post(url, json=init, headers={**hdrs, "Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert httpx.post(url, json=init, headers={**hdrs, "Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert httpx.get(base + "/status").status_code == 401
        st = httpx.get(base + "/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert st.status_code == 200 and st.json()["vectors"] > 0
        out = run(main, url)
    _check_answers(out, s)


def test_streamable_http_without_token_on_loopback(runtime, settings):
    s = settings.model_copy(update={"server": settings.server.model_copy(update={"port": free_port()})})

    async def main(url: str):
        async with http_client(url, None) as c:
            return await c.call_tool("search_footage", {"query": "a woman at a switchboard", "limit": 2})

    with live_server(s, RuntimeProvider(runtime)) as url:
        r = run(main, url)
        # DNS-rebinding protection: a foreign Host header is refused on a loopback bind.
        bad_host = httpx.post(url, json={}, headers={"Host": "evil.example:80",
                                                     "Accept": "application/json, text/event-stream"})
    assert not r.is_error and r.structured_content["moments"]
    assert bad_host.status_code in (400, 403, 421)


def test_bridge_passes_on_the_service_answer_not_a_task_group_error(runtime, settings):
    """stdio -> service: the service's own error (unknown resource) reaches the client as it is; a
    request the service refuses outright says which service failed, never 'unhandled errors in a
    TaskGroup'."""
    from mcp.shared.exceptions import MCPError

    from mcp_server.stdio_bridge import _Remote

    s = settings.model_copy(update={"server": settings.server.model_copy(update={"port": free_port()})})

    async def main(url: str):
        remote = _Remote(url, None)
        try:
            with pytest.raises(MCPError) as unknown:
                await remote(lambda c: c.read_resource("file:///etc/passwd"))
            with pytest.raises(MCPError) as huge:
                await remote(lambda c: c.call_tool("search_by_image", {"image_base64": "A" * (30 << 20)}))
            ok = await remote(lambda c: c.list_tools())
        finally:
            await remote.aclose()
        return unknown.value, huge.value, ok

    with live_server(s, RuntimeProvider(runtime)) as url:
        unknown, huge, ok = run(main, url)
    assert "Unknown resource" in unknown.error.message and "TaskGroup" not in unknown.error.message
    assert url in huge.error.message and "TaskGroup" not in huge.error.message
    assert {t.name for t in ok.tools} == TOOLS


def _raw_stdio(cmd: list[str], env: dict[str, str], messages: list[dict], tmp: Path) -> tuple[list[dict], str]:
    """Run a stdio server, send JSON-RPC lines (waiting for each reply), return every stdout line parsed."""
    err = tmp / "stdio-stderr.txt"
    with err.open("w") as errf:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errf, text=True)
        watchdog = threading.Timer(180, proc.kill)
        watchdog.start()
        replies: list[dict] = []
        try:
            for m in messages:
                proc.stdin.write(json.dumps(m) + "\n")
                proc.stdin.flush()
                while "id" in m and not any(r.get("id") == m["id"] for r in replies):
                    line = proc.stdout.readline()
                    assert line, f"server exited early: {err.read_text()[-2000:]}"
                    replies.append(json.loads(line))  # nothing but protocol on stdout
            proc.stdin.close()
            rest = proc.stdout.read()
            assert proc.wait(30) == 0
        finally:
            watchdog.cancel()
            proc.kill()
    replies += [json.loads(ln) for ln in rest.splitlines() if ln.strip()]
    assert all(r.get("jsonrpc") == "2.0" for r in replies)
    return replies, err.read_text()


def _handshake(*calls: tuple[str, dict]) -> list[dict]:
    msgs = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    for i, (name, args) in enumerate(calls, 1):
        msgs.append({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}})
    return msgs


def test_stdio_opens_the_index_itself_when_no_service_runs(settings, runtime, tmp_path):
    """No service: `python -m mcp_server.stdio_bridge` opens the store (taking the lock) itself."""
    assert not is_locked(settings.lock_path)
    cmd = [sys.executable, "-m", "mcp_server.stdio_bridge"]
    replies, stderr = _raw_stdio(cmd, tiny_env(settings.data_dir), _handshake(
        ("search_footage", {"query": "a bee on a flower", "limit": 2}), ("get_frame", {"video": "friday.mp4",
                                                                                     "time": 1})), tmp_path)
    by_id = {r["id"]: r for r in replies}
    assert set(by_id) == {0, 1, 2}, stderr[-2000:]
    assert by_id[0]["result"]["serverInfo"]["name"] == "reelfind"
    assert by_id[1]["result"]["structuredContent"]["moments"]
    assert by_id[2]["result"]["content"][-1]["mimeType"] == "image/jpeg"
    assert "answering from this process" in stderr

    async def main():  # and through the SDK's stdio client
        async with Client(stdio_params(settings.data_dir)) as c:
            return await _call_all(c)

    _check_answers(run(main), settings)


def test_stdio_bridges_to_the_running_service(runtime, settings, tmp_path):
    """With `reelfind serve` holding the data-dir lock, stdio forwards to its HTTP endpoint (with token)."""
    s = settings.model_copy(update={"server": settings.server.model_copy(
        update={"port": free_port(), "token": SecretStr(TOKEN)})})
    errlog = tmp_path / "stderr.txt"

    async def main(params):
        from mcp.client.stdio import stdio_client

        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err)) as c:
                return await _call_all(c)

    async def wrong_token(params):
        from mcp.client.stdio import stdio_client

        with errlog.open("w") as err:
            async with Client(stdio_client(params, errlog=err)) as c:
                r = await c.call_tool("index_status", {})
                with pytest.raises(MCPError, match="rejected the token"):
                    await c.list_tools()
                return r

    with live_server(s, RuntimeProvider(runtime)) as url, DataDirLock(s.lock_path) as lock:
        lock.acquire("serve", url)  # what `reelfind serve` does; the subprocess cannot open the store now
        out = run(main, stdio_params(s.data_dir, REELFIND_SERVER__TOKEN=TOKEN))
        assert f"answering from the reelfind service at {url}" in errlog.read_text()
        r = run(wrong_token, stdio_params(s.data_dir, REELFIND_SERVER__TOKEN="nope"))
    _check_answers(out, s)
    assert r.is_error and "rejected the token" in r.content[0].text


def test_stdio_bridge_reports_a_service_that_is_down(settings, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/mcp"

    async def main():
        async with Client(stdio_params(tmp_path / "empty", REELFIND_SERVER__URL=url)) as c:
            return await c.call_tool("index_status", {})

    r = run(main)
    assert r.is_error and "not answering" in r.content[0].text and url in r.content[0].text


def test_reelfind_mcp_console_script(settings, runtime, tmp_path):
    """`reelfind mcp` (what Claude Desktop runs) speaks MCP on stdio."""
    exe = Path(sys.executable).with_name("reelfind")
    if not exe.exists():
        pytest.skip("reelfind console script not installed in this environment")
    replies, stderr = _raw_stdio([str(exe), "mcp"], tiny_env(settings.data_dir),
                                 _handshake(("list_videos", {"limit": 2})), tmp_path)
    by_id = {r["id"]: r for r in replies}
    assert by_id[1]["result"]["structuredContent"]["total"] == 22, stderr[-2000:]
