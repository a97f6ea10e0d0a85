"""Call one tool of a running reelfind service over streamable HTTP (used by the CLI)."""

from __future__ import annotations

from typing import Any

import anyio

from reelcore.config import Settings
from reelcore.endpoint import auth_headers


class RemoteToolError(Exception):
    pass


def call_tool(url: str, settings: Settings, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Structured result of `name(args)` on the service at `url`; RemoteToolError with its message."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = auth_headers(settings) or None

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
