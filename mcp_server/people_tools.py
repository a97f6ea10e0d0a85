"""The people MCP tools: `list_people` (read-only) and `name_person` (a write).

Thin over reelcore.channels.people.api, in a worker thread (SQLite). They need no model or
vector store, so they answer while the service is still loading. `name_person` changes the
user's data: it is annotated as a write (readOnlyHint false, not destructive: a name can be
changed again) and, like every tool, needs the bearer token when the service has one (the HTTP
guard in daemon/app.py covers /mcp).
"""

# No `from __future__ import annotations`: MCPServer evaluates the tools' Annotated signatures.
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from reelcore.channels.people import api
from reelcore.channels.people.people_db import MAX_NAME
from reelcore.inputs import QueryError
from reelcore.models import PeopleOut, PersonOut

from .providers import ServiceProvider

_T = TypeVar("_T")

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                        open_world_hint=False)

INSTRUCTIONS = """\
- People (faces): call list_people first to learn who is known (names, and 'Person N' for people \
not named yet); then search_footage(query, people=["Maria"]) or find_scenes(people=["Maria", \
"Tom"]) for moments where they are all on screen together. name_person(person, name) names someone \
(a change to the user's data: do it when the user asks)."""


async def _call(fn: Callable[..., _T], *args: Any) -> _T:
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except QueryError as e:
        raise ToolError(str(e)) from None


def register_people_tools(mcp: MCPServer, provider: ServiceProvider) -> None:
    settings = provider.settings

    @mcp.tool(title="List the people found in the footage", annotations=READ_ONLY)
    async def list_people(
        named_only: Annotated[bool, Field(description="only people the user has named")] = False,
        limit: Annotated[int, Field(ge=1, le=api.MAX_LIST, description="how many people")] = 200,
        offset: Annotated[int, Field(ge=0, le=1_000_000, description="skip this many (paging)")] = 0,
    ) -> PeopleOut:
        """Everyone whose face was found in the indexed footage, grouped across videos: named people
        (their names) and people not named yet ('Person 12'), with how many videos and seconds each
        is on screen. Call this FIRST, before searching for people by name or naming someone:
        search_footage(people=[...]), find_scenes(people=[...]) and name_person take these names
        or labels. If the channel is off (enabled = false), it says so and lists nobody."""
        return await _call(api.list_people, settings, named_only, limit, offset)

    @mcp.tool(title="Name a person", annotations=WRITE)
    async def name_person(
        person: Annotated[str, Field(min_length=1, max_length=MAX_NAME + 20, description=(
            "who to name, as list_people shows them: 'Person 12', the id 12, or a current name (to rename)"))],
        name: Annotated[str, Field(min_length=1, max_length=MAX_NAME, description="the person's name")],
    ) -> PersonOut:
        """Give a person found in the footage a name (or change it): a WRITE to the user's data.
        Call list_people first to find the right person; do it when the user says who someone is.
        The name then finds this person in every video, including footage indexed later. A name
        already used by another person is refused (they may be the same person: the user can merge
        them with `reelfind people merge` or the viewer's People page)."""
        return await _call(api.name_person, settings, person, name)
