"""Where a running `reelfind serve` answers and how a client authenticates to it.

Derived from the settings and the data-dir lock's owner record only (no network here), so the
CLI, the stdio bridge and the status builder agree on one URL and one header.
"""

from __future__ import annotations

from typing import Any

from .config import Settings
from .lock import is_locked, read_owner


def service_base_url(settings: Settings, owner: dict[str, Any]) -> str:
    """The service's base URL (no /mcp suffix) from its lock record, else from the settings."""
    return (owner.get("url") or settings.mcp_url).rsplit("/mcp", 1)[0]


def auth_headers(settings: Settings) -> dict[str, str]:
    """The bearer header a client of the service sends (none when no token is configured)."""
    token = settings.server.token
    return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}


def serve_owner(settings: Settings) -> dict[str, Any] | None:
    """The lock record of a running `reelfind serve` on this data dir, or None."""
    if not is_locked(settings.lock_path):
        return None
    owner = read_owner(settings.lock_path)
    return owner if owner.get("command") == "serve" else None


def service_url(settings: Settings) -> str | None:
    """The running service's MCP URL to talk to (configured `server.url` first), or None."""
    if settings.server.url:
        return settings.server.url
    owner = serve_owner(settings)
    if owner is not None:
        return owner.get("url") or settings.mcp_url
    return None
