"""`reelfind index` while the service owns the store: hand the paths to it over HTTP (POST /enqueue)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from reelcore.config import Settings
from reelcore.endpoint import auth_headers, serve_owner, service_base_url


class HandoffError(Exception):
    pass


def hand_off(
    settings: Settings, owner: dict[str, Any], paths: list[str], timeout: float = 10.0
) -> tuple[int, list[dict[str, Any]]]:
    """Ask the running service to index `paths`: (how many it accepted, [{path, reason}] it refused).

    The service answers 202 when it took at least one path, 422 (same body) when it took none.
    """
    req = urllib.request.Request(
        service_base_url(settings, owner) + "/enqueue",
        data=json.dumps({"paths": paths}).encode(),
        headers={"Content-Type": "application/json", **auth_headers(settings)},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (service URL from the lock)
            body = json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            rejected = json.loads(raw).get("rejected") or []
            detail = "; ".join(f"{r.get('path')}: {r.get('reason')}" for r in rejected)
        except (ValueError, AttributeError):
            detail = raw[:200].decode(errors="replace")
        raise HandoffError(f"the service answered HTTP {e.code}: {detail}") from e
    except (OSError, ValueError) as e:
        raise HandoffError(f"cannot reach the service: {e}") from e
    return int(body.get("accepted", 0)), list(body.get("rejected") or [])


def service_status(settings: Settings, timeout: float = 2.0) -> dict[str, Any] | None:
    """Live status from a running `reelfind serve` (GET /status), or None if none answers."""
    owner = serve_owner(settings)
    if owner is None:
        return None
    req = urllib.request.Request(service_base_url(settings, owner) + "/status", headers=auth_headers(settings))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (loopback/configured URL)
            return json.loads(r.read())
    except (OSError, ValueError):
        return {"pid": owner.get("pid"), "state": "running (status endpoint not answering)"}
