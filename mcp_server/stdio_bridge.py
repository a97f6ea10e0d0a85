"""`reelfind mcp`: MCP over stdio for desktop clients (Claude Desktop launches this).

    run_stdio(settings) -> int       (also: python -m mcp_server.stdio_bridge [--config FILE])

Each MCP request from stdin goes to one of two back ends, decided per request:
- a running reelfind service (the data-dir lock is held by `reelfind serve`, or `server.url` is
  configured, e.g. a NAS): forwarded to its streamable HTTP endpoint with the bearer token, so the
  one process that owns the index answers every query;
- otherwise this process answers itself (`LocalProvider`: opens the store while queries come in,
  gives the lock back when idle, keeps the model warm).
So a service started or stopped while the desktop app runs is picked up without a restart.

A token is never sent over plain http:// to a non-loopback host (mcp_server.remote's rule): such
a request fails with a message saying to use https://.

Only protocol messages go to stdout; logs go to stderr (the stdio transport also points fd 1 at
stderr while it serves, so stray prints from libraries cannot corrupt the stream).

Why one small handler per method instead of a generic pass-through: both sides already are the
SDK's primitives (a low-level `mcp.server.Server` facing stdin/stdout, `mcp.Client` sessions to
the service and to the in-process `MCPServer`), and the handlers only pick the back end. mcp
2.3.0 has no proxy helper; the one generic seam (`Server.middleware`, raw requests) is marked
provisional in the SDK ("may change in a 2.x minor release"), and typed handlers are also what
makes the front advertise the right capabilities (tools, resources, prompts) at initialize.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server
from mcp.server.apps import EXTENSION_ID as APPS_EXTENSION
from mcp.server.stdio import stdio_server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from reelcore.config import ConfigError, Settings, load_settings
from reelcore.endpoint import service_url

from .providers import LocalProvider, wait_idle, warm_in_background
from .remote import token_transport_problem
from .server import build_server

log = logging.getLogger(__name__)
_T = TypeVar("_T")
Op = Callable[[Client], Awaitable[_T]]


def run_stdio(settings: Settings) -> int:
    """Serve MCP on stdin/stdout until the client closes stdin; returns the exit code."""
    try:
        anyio.run(_serve, settings)
    except KeyboardInterrupt:
        return 130
    return 0


class _Remote:
    """One MCP operation against the service: a fresh MCP session per request (so a restarted
    service is simply picked up again) over one pooled HTTP client."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.refused = token_transport_problem(url) if token else None
        if self.refused:
            log.error("%s", self.refused)
        self.http: httpx2.AsyncClient | None = None

    async def __call__(self, op: Op[_T]) -> _T:
        if self.refused:
            raise MCPError(types.INTERNAL_ERROR, self.refused)
        if self.http is None:
            self.http = create_mcp_http_client(headers=self.headers)
        try:
            async with Client(streamable_http_client(self.url, http_client=self.http), cache=None) as client:
                return await op(client)
        except Exception as e:
            leaf = _leaf(e)  # the client's task groups wrap the real error in exception groups
            if isinstance(leaf, MCPError) and leaf.error.code in (types.INVALID_PARAMS, types.METHOD_NOT_FOUND):
                raise MCPError(leaf.error.code, leaf.error.message) from None  # the service's answer
            raise MCPError(types.INTERNAL_ERROR, await self.explain(leaf)) from None

    async def explain(self, err: BaseException) -> str:
        """Why the service could not be used, in words a user can act on."""
        try:
            async with httpx2.AsyncClient(timeout=5) as http:
                r = await http.post(self.url, headers=self.headers, json={})
            if r.status_code == 401:
                return (f"the reelfind service at {self.url} rejected the token: set server.token "
                        "(REELFIND_SERVER__TOKEN) to the service's token")
        except Exception as e:
            return f"the reelfind service at {self.url} is not answering ({type(e).__name__}: {e})"
        return f"the reelfind service at {self.url} failed: {err}"

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()


def _leaf(err: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


class Backends:
    """Routes each request to the running service if there is one, else to the in-process server."""

    def __init__(self, settings: Settings, local: Client) -> None:
        self.settings = settings
        self.local = local
        self.token = settings.server.token.get_secret_value() if settings.server.token else None
        self.remotes: dict[str, _Remote] = {}
        self.mode: str | None = None

    async def __call__(self, op: Op[_T]) -> _T:
        url = await anyio.to_thread.run_sync(service_url, self.settings)
        mode = url or "local"
        if mode != self.mode:
            log.info("answering from %s", f"the reelfind service at {url}" if url else
                     f"this process (index in {self.settings.data_dir})")
            self.mode = mode
        if url is None:
            return await op(self.local)
        if url not in self.remotes:
            self.remotes[url] = _Remote(url, self.token)
        return await self.remotes[url](op)

    async def aclose(self) -> None:
        for r in self.remotes.values():
            await r.aclose()


def build_front(settings: Settings, backends: Backends, local_server: Any) -> Server[Any]:
    """The stdio-side MCP server: every handler asks `backends` (same surface as build_server)."""

    def cursor(params: types.PaginatedRequestParams | None) -> str | None:
        return params.cursor if params else None

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return await backends(lambda c: c.list_tools(cursor=cursor(params)))

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            return await backends(lambda c: c.call_tool(params.name, params.arguments or {}))
        except MCPError as e:  # a tool call answers with an error result the assistant can read
            return types.CallToolResult(content=[types.TextContent(type="text", text=e.error.message)],
                                        is_error=True)

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return await backends(lambda c: c.list_resources(cursor=cursor(params)))

    async def list_templates(ctx: Any, params: types.PaginatedRequestParams | None
                             ) -> types.ListResourceTemplatesResult:
        return await backends(lambda c: c.list_resource_templates(cursor=cursor(params)))

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return await backends(lambda c: c.read_resource(params.uri))

    async def list_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return await backends(lambda c: c.list_prompts(cursor=cursor(params)))

    async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        return await backends(lambda c: c.get_prompt(params.name, params.arguments))

    front = Server(
        "reelfind", version=local_server.version, title=local_server.title,
        instructions=local_server.instructions, on_list_tools=list_tools, on_call_tool=call_tool,
        on_list_resources=list_resources, on_list_resource_templates=list_templates,
        on_read_resource=read_resource, on_list_prompts=list_prompts, on_get_prompt=get_prompt,
    )
    front.extensions[APPS_EXTENSION] = {}  # advertise MCP Apps like build_server does (the viewer's ui://)
    return front


async def _serve(settings: Settings) -> None:
    provider = LocalProvider(settings)
    local_server = build_server(provider, warm=False)
    try:
        async with stdio_server() as (read, write), Client(local_server, cache=None) as local:
            # Warm up only once fd 1 is the transport's (anything a library prints meanwhile goes
            # to stderr, not into the protocol stream).
            if await anyio.to_thread.run_sync(service_url, settings) is None:
                warm_in_background(provider)  # the model only: the store is opened by the first query
            backends = Backends(settings, local)
            front = build_front(settings, backends, local_server)
            try:
                await front.run(read, write, front.create_initialization_options())
            finally:
                await backends.aclose()
    finally:
        # Let worker threads (warm-up, calls cut off by EOF) leave native code before exiting.
        await anyio.to_thread.run_sync(wait_idle, 120.0)
        await anyio.to_thread.run_sync(provider.close)


def main() -> int:
    """`python -m mcp_server.stdio_bridge [--config FILE]`: settings from REELFIND_* / the TOML file."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = sys.argv[1:]
    config = args[1] if len(args) == 2 and args[0] in ("-c", "--config") else None
    try:
        settings = load_settings(config)
    except ConfigError as e:
        sys.stderr.write(f"error: {e}\n")  # stdout belongs to the MCP protocol
        return 2
    logging.getLogger().setLevel(settings.log_level)
    for noisy in ("chromadb", "httpx", "httpx2", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return run_stdio(settings)


if __name__ == "__main__":
    sys.exit(main())
