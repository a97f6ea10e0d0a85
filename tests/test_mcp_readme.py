"""The README's MCP client snippets parse, have the shape clients expect, and work as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import anyio
import pytest
from pydantic import SecretStr

from mcp_server.providers import RuntimeProvider
from reelcore.config import Settings
from reelcore.runtime import Runtime
from tests.conftest import REPO, TINY_MODEL_CONFIG, tiny_env
from tests.mcp_support import footage_index, free_port, http_client, live_server

pytestmark = pytest.mark.timeout(300)

README = REPO / "README.md"


def json_block_after(heading_word: str) -> dict:
    """The first ```json block after the first Markdown heading containing `heading_word`."""
    # A moved or renamed heading fails the test (it used to skip): the snippet must stay findable.
    assert README.exists(), "README.md is missing"
    text = README.read_text()
    m = re.search(rf"^#+ [^\n]*{re.escape(heading_word)}[^\n]*$", text, re.M)
    assert m, f"README has no heading containing {heading_word!r}: its snippet test cannot find the snippet"
    block = re.search(r"```json\n(.*?)\n```", text[m.end():], re.S)
    assert block, f"no ```json block after the {heading_word!r} heading"
    return json.loads(block.group(1))


def test_claude_desktop_snippet_shape():
    cfg = json_block_after("Claude Desktop")["mcpServers"]["reelfind"]
    assert Path(cfg["command"]).name == "reelfind" and cfg["args"] == ["mcp"]
    fields = {f.upper() for f in Settings.model_fields} | {"CONFIG"}
    for key in cfg.get("env", {}):
        assert key.startswith("REELFIND_") and key.removeprefix("REELFIND_").split("__")[0] in fields, key


def test_claude_desktop_snippet_launches_a_working_server(footage, tmp_path_factory, tmp_path):
    """Run the snippet's command line (our venv's reelfind) with its env, pointed at a test config."""
    cfg = json_block_after("Claude Desktop")["mcpServers"]["reelfind"]
    exe = Path(sys.executable).with_name(Path(cfg["command"]).name)
    if not exe.exists():
        pytest.skip("reelfind console script not installed in this environment")
    s = footage_index(tmp_path_factory.getbasetemp())
    toml = tmp_path / "config.toml"
    toml.write_text(f'data_dir = "{s.data_dir}"\n[model]\nname = "reelfind-tiny"\npretrained = "none"\n'
                    f'config_path = "{TINY_MODEL_CONFIG}"\n')
    env = {k: v for k, v in tiny_env(tmp_path / "unused").items() if not k.startswith("REELFIND_")}
    env.update(cfg.get("env", {}), REELFIND_CONFIG=str(toml))
    msgs = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "desktop", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_videos", "arguments": {}}},
    ]
    proc = subprocess.Popen([str(exe), *cfg["args"]], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        replies = {}
        for m in msgs:
            proc.stdin.write(json.dumps(m) + "\n")
            proc.stdin.flush()
            while "id" in m and m["id"] not in replies:
                line = proc.stdout.readline()
                assert line, "server exited"
                r = json.loads(line)
                replies[r.get("id")] = r
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert replies[0]["result"]["serverInfo"]["name"] == "reelfind"
    assert replies[1]["result"]["structuredContent"]["total"] == 22


def test_http_client_snippet_connects(footage, tmp_path_factory):
    cfg = json_block_after("HTTP")["mcpServers"]["reelfind"]
    assert cfg["type"] == "http" and cfg["url"] == Settings().mcp_url
    scheme, _, token = cfg["headers"]["Authorization"].partition(" ")
    assert scheme == "Bearer" and token
    s = footage_index(tmp_path_factory.getbasetemp())
    port = free_port()
    s = s.model_copy(update={"server": s.server.model_copy(update={"port": port, "token": SecretStr(token)})})
    url = urlparse(cfg["url"])._replace(netloc=f"127.0.0.1:{port}").geturl()
    rt = Runtime.open(s, "test", own_store=False)

    async def main():
        async with http_client(url, token) as c:
            return {t.name for t in (await c.list_tools()).tools}

    try:
        with live_server(s, RuntimeProvider(rt)):
            assert "search_footage" in anyio.run(main)
    finally:
        rt.close()
