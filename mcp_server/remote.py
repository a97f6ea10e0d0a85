"""Talk to a running reelfind service over streamable HTTP: one tool call (the CLI), and the rule
for when a bearer token may be sent at all (the CLI and the stdio bridge)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import anyio

from reelcore.config import Settings
from reelcore.endpoint import auth_headers

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class RemoteToolError(Exception):
    pass


def token_transport_problem(url: str) -> str | None:
    """Why a bearer token must not be sent to `url` (plain http:// to another machine: anyone on
    the network path can read it), else None. https:// anywhere and http:// on loopback are fine."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return None
    return (f"refusing to send the bearer token to {url}: plain {parts.scheme}:// to another machine "
            "would show it to anyone on the network; use an https:// URL for server.url (a reverse "
            "proxy with TLS in front of reelfind serve), or a loopback address")


def call_tool(url: str, settings: Settings, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Structured result of `name(args)` on the service at `url`; RemoteToolError with its message."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = auth_headers(settings) or None
    if headers and (why := token_transport_problem(url)):
        raise RemoteToolError(why)

    async def go() -> dict[str, Any]:
        async with create_mcp_http_client(headers=headers) as http, Client(
            streamable_http_client(url, http_client=http), cache=None
        ) as client:
            res = await client.call_tool(name, args)
        if res.is_error:
            text = res.content[0].text if res.content else "tool error"
            raise RemoteToolError(text)
        return dict(res.structured_content or {})

    try:
        return anyio.run(go)
    except RemoteToolError:
        raise
    except Exception as e:  # connection refused, 401, protocol errors
        raise RemoteToolError(f"the reelfind service at {url} did not answer: {type(e).__name__}: {e}") from e
