"""Helpers for the MCP tests: the shared-footage index (built once per run), a live HTTP server,
MCP clients for every transport, and checks on tool results."""

from __future__ import annotations

import base64
import contextlib
import io
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
from PIL import Image

from reelcore.config import Settings
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from tests.conftest import FOOTAGE, REPO, tiny_env, tiny_settings

_index_lock = threading.Lock()
_footage_index: dict[str, Settings] = {}


def footage_index(base: Path) -> Settings:
    """Settings of an index of ../shared/footage (bad/ included) built with the tiny model, once."""
    with _index_lock:
        if "s" not in _footage_index:
            s = tiny_settings(base / "footage-index", roots=[{"path": str(FOOTAGE)}])
            rt = Runtime.open(s, "test")
            try:
                plan = rt.reconciler().reconcile(Root(FOOTAGE))
                for rec in plan.todo:
                    rt.indexer().index(rec)
            finally:
                rt.close()  # release the lock: stdio tests open the store in a subprocess
            _footage_index["s"] = s
        return _footage_index["s"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class QueryOnlyFace:
    """Stands in for the service in daemon/app.py's app: /status from the one status builder over
    `provider`'s index, /enqueue refused (no indexer runs here)."""

    def __init__(self, settings: Settings, provider: Any) -> None:
        self.settings = settings
        self.provider = provider

    def status(self) -> dict[str, Any]:
        from reelcore.status import build_status

        svc = self.provider.search_service()
        return build_status(self.settings, svc.catalog, identity=svc.embedder.identity, vectors=svc.store.count())

    def enqueue_paths(self, paths: list[str]) -> dict[str, Any]:
        return {"accepted": 0, "rejected": [{"path": p, "reason": "no indexer here"} for p in paths]}


@contextlib.contextmanager
def live_server(settings: Settings, provider: Any) -> Iterator[str]:
    """The service's HTTP app (daemon/app.py: one guard, the MCP app mounted) over `provider`, in a
    uvicorn thread on settings.server.port; yields the MCP URL."""
    from daemon.app import build_app
    from daemon.http_server import HttpServer
    from mcp_server.server import http_app

    server = HttpServer(build_app(QueryOnlyFace(settings, provider), http_app(settings, provider)),
                        settings.server.host, settings.server.port)
    if not server.start(20):
        server.stop()
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{server.port}/mcp"
    finally:
        server.stop()


def http_client(url: str, token: str | None):
    """An mcp Client over streamable HTTP (with a bearer token); use as `async with`."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token else None)
    return Client(streamable_http_client(url, http_client=http), cache=None)


def stdio_params(data_dir: Path, **env: str):
    """Launch parameters for `python -m mcp_server.stdio_bridge` on a private data dir."""
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_server.stdio_bridge"],
                                 env=tiny_env(data_dir, **env), cwd=str(REPO))


def image_blocks(result: Any) -> list[Image.Image]:
    """Decode every image content block; each must be a real PNG or JPEG matching its MIME type."""
    out = []
    for block in result.content:
        if block.type != "image":
            continue
        im = Image.open(io.BytesIO(base64.b64decode(block.data)))
        im.load()
        assert (im.format, block.mime_type) in (("PNG", "image/png"), ("JPEG", "image/jpeg")), (im.format,
                                                                                              block.mime_type)
        out.append(im)
    return out


def check_structured(tool: Any, result: Any) -> dict[str, Any]:
    """A successful result whose structured content validates against the tool's outputSchema."""
    assert not result.is_error, result.content[0].text if result.content else result
    assert tool.output_schema, f"{tool.name} has no outputSchema"
    jsonschema.validate(result.structured_content, tool.output_schema)
    return result.structured_content


def png_base64(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()
