"""Local access (issue 10, item 10): `server.require_token_on_loopback`, one guard for every route
of the service app, and a token never sent over plain http:// to another machine."""

from __future__ import annotations

from types import SimpleNamespace

import anyio
import pytest
from mcp import Client
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from daemon.app import build_app
from mcp_server.remote import RemoteToolError, call_tool, token_transport_problem
from reelcore.config import ConfigError, Settings, load_settings
from tests.mcp_support import stdio_params


def _app(tmp_path, **server):
    svc = SimpleNamespace(settings=Settings(data_dir=tmp_path, server=server),
                          status=lambda: {"state": "running"},
                          enqueue_paths=lambda paths: {"accepted": len(paths), "rejected": []})
    extra = [Route("/viewer/ping", lambda r: PlainTextResponse("pong"))]
    return TestClient(build_app(svc, extra_routes=extra), base_url="http://127.0.0.1:8765")


def test_require_token_on_loopback_needs_a_token(tmp_path):
    with pytest.raises((ValueError, ConfigError), match="require_token_on_loopback"):
        load_settings(None, data_dir=tmp_path, server={"require_token_on_loopback": True})
    s = load_settings(None, data_dir=tmp_path, server={"require_token_on_loopback": True, "token": "t0k"})
    assert s.server.require_token_on_loopback and s.server.host == "127.0.0.1"


def test_loopback_is_tokenless_by_default_but_not_with_require_token(tmp_path):
    open_app = _app(tmp_path)
    assert open_app.get("/status").status_code == 200
    assert open_app.get("/viewer/ping").text == "pong"  # extra routes are served ...

    shared = _app(tmp_path, require_token_on_loopback=True, token="s3cret")
    for path in ("/status", "/viewer/ping", "/mcp"):  # ... and guarded like every other route
        assert shared.get(path).status_code == 401, path
    auth = {"Authorization": "Bearer s3cret"}
    assert shared.get("/status", headers=auth).json() == {"state": "running"}
    assert shared.get("/viewer/ping", headers=auth).text == "pong"
    # The loopback checks still hold with the token: a rebinding page cannot use a leaked header.
    assert shared.get("/status", headers={**auth, "Host": "evil.example:8765"}).status_code == 403


def test_token_transport_rule():
    assert token_transport_problem("http://127.0.0.1:8765/mcp") is None
    assert token_transport_problem("http://localhost:8765/mcp") is None
    assert token_transport_problem("http://[::1]:8765/mcp") is None
    assert token_transport_problem("https://nas.local:8765/mcp") is None
    why = token_transport_problem("http://nas.local:8765/mcp")
    assert why and "https://" in why and "nas.local" in why


def test_cli_remote_call_refuses_a_token_over_plain_http(tmp_path):
    s = Settings(data_dir=tmp_path, server={"url": "http://nas.invalid:8765/mcp", "token": "s3cret"})
    with pytest.raises(RemoteToolError, match="refusing to send the bearer token"):
        call_tool(s.server.url, s, "index_status", {})


def _bridge_call(tmp_path, **env: str):
    async def main():
        async with Client(stdio_params(tmp_path / "data", **env)) as c:
            return await c.call_tool("index_status", {})

    return anyio.run(main)


def test_stdio_bridge_refuses_a_token_over_plain_http_to_another_host(tmp_path):
    r = _bridge_call(tmp_path, REELFIND_SERVER__URL="http://nas.invalid:8765/mcp", REELFIND_SERVER__TOKEN="s3cret")
    assert r.is_error and "refusing to send the bearer token" in r.content[0].text
    assert "https://" in r.content[0].text


def test_stdio_bridge_sends_a_token_over_https(tmp_path):
    # The host does not resolve: the request is attempted (and fails), not refused.
    r = _bridge_call(tmp_path, REELFIND_SERVER__URL="https://nas.invalid:8765/mcp", REELFIND_SERVER__TOKEN="s3cret")
    assert r.is_error and "refusing" not in r.content[0].text and "not answering" in r.content[0].text
