"""The `export_moments` MCP tool: a question's moments as a file for an editing application.

The file comes back as an embedded text resource (the assistant can hand it on or save it),
with a summary as structured content. When the server runs inside `reelfind serve` (HTTP), the
result also carries a download link to the viewer's `/api/export` route, which answers the same
question again (send the bearer token when the service has one). Nothing is written to disk.
"""

# No `from __future__ import annotations`: MCPServer evaluates the tool's Annotated signature.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents, ToolAnnotations
from pydantic import BaseModel, Field

from reelcore.export import MAX_EXPORT_MOMENTS, ExportFile
from reelcore.export.query import export_answer
from reelcore.query.search import SearchService

from .providers import ServiceProvider

FormatName = Literal["edl", "fcp7", "fcpxml", "otio", "csv"]
MAX_LINK_MOMENTS = 100  # a selection longer than this gets no download link (URL length)


class PickedMoment(BaseModel):
    video: str = Field(min_length=1, max_length=4096, description="video_id, path or unique file name")
    start: float = Field(ge=0, allow_inf_nan=False, description="seconds")
    end: float = Field(gt=0, allow_inf_nan=False, description="seconds")
    label: str | None = Field(default=None, max_length=200, description="marker name for this moment")


class ExportOut(BaseModel):
    format: str
    filename: str = Field(description="suggested file name")
    mime_type: str
    moments: int = Field(description="moments in the file (0: a valid empty file)")
    message: str = Field(description="what was exported, the sequence's rate, and notes (VFR, unreadable files)")
    resource_uri: str = Field(description="URI of the embedded resource that holds the file")
    download_url: str | None = Field(description="GET this (with the service's bearer token, if it has one) "
                                                 "to download the same export; None without HTTP")


def _download_url(base: str | None, fmt: str, args: dict[str, Any]) -> str | None:
    if not base:
        return None
    params: list[tuple[str, str]] = [("format", fmt)]
    for key, name in (("query", "q"), ("video", "video"), ("path_glob", "path"), ("label", "label")):
        if args.get(key):
            params.append((name, str(args[key])))
    params += [("concept", c) for c in args.get("all_of") or []]
    picked = args.get("moments")
    if picked is not None:
        if len(picked) > MAX_LINK_MOMENTS:
            return None
        params += [("moment", f"{m.video}@{m.start:g}-{m.end:g}") for m in picked]
    else:
        params.append(("limit", str(args["limit"])))
    return f"{base}/api/export?{urlencode(params)}"


def register_export_tool(mcp: MCPServer, provider: ServiceProvider,
                         run: Callable[..., Awaitable[Any]], download_base: str | None) -> None:
    """Add `export_moments` to `mcp`; `run` is server.py's `_run` (worker thread, error mapping)."""
    q = provider.settings.query

    @mcp.tool(title="Export moments to an editing application",
              annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                          open_world_hint=False))
    async def export_moments(
        format: Annotated[FormatName, Field(description=(
            "edl: CMX 3600 EDL with markers (Resolve, Avid, Premiere); fcp7: FCP7 XML (Premiere Pro); "
            "fcpxml: FCPXML 1.9 (Final Cut Pro); otio: OpenTimelineIO (Resolve, Kdenlive); csv: a spreadsheet"))],
        query: Annotated[str | None, Field(max_length=q.max_query_chars, description=(
            "search for this; with `video`: what to look for in that video"))] = None,
        all_of: Annotated[list[Annotated[str, Field(min_length=1, max_length=q.max_query_chars)]] | None,
                          Field(max_length=8, description="scenes where all of these are in the picture")] = None,
        video: Annotated[str | None, Field(max_length=4096, description=(
            "export this video's timeline peaks for `query`"))] = None,
        moments: Annotated[list[PickedMoment] | None, Field(max_length=MAX_EXPORT_MOMENTS, description=(
            "hand-picked moments instead of a question, e.g. from earlier results"))] = None,
        limit: Annotated[int, Field(ge=1, le=q.max_limit, description="how many moments (search, scenes)")] = 10,
        path_glob: Annotated[str | None, Field(max_length=1000, description="only videos matching this glob")] = None,
        label: Annotated[str | None, Field(max_length=200, description=(
            "marker name (default: the question)"))] = None,
    ) -> Annotated[CallToolResult, ExportOut]:
        """Export moments as subclips and markers for Premiere, Resolve, Final Cut or Avid.

        Each moment becomes a subclip of its file (source in/out in the file's own start
        timecode and frame rate, drop-frame where the file is) and a marker named after the
        question, its comment holding channels, score and quoted words. Give one of: `query`
        (a search), `all_of` (scenes), `video` + `query` (timeline peaks) or `moments`. The file
        is returned as an embedded text resource; nothing is written on the server.
        """
        if moments is not None and (query or all_of or video):
            raise ToolError("give either moments, or a question (query / all_of / video), not both")
        selection = [m.model_dump() | {"video_id": m.video} for m in moments] if moments is not None else None

        def work(svc: SearchService) -> ExportFile:
            return export_answer(svc, format, query=query, concepts=all_of, video=video, selection=selection,
                                 limit=limit, path_glob=path_glob, label=label)

        made: ExportFile = await run(provider, work)
        uri = f"reelfind://export/{quote(made.filename)}"
        out = ExportOut(format=made.format.name, filename=made.filename, mime_type=made.format.mime,
                        moments=made.moments, message=made.message, resource_uri=uri,
                        download_url=_download_url(download_base, made.format.name, {
                            "query": query, "all_of": all_of, "video": video, "moments": moments,
                            "limit": limit, "path_glob": path_glob, "label": label}))
        content = [TextContent(type="text", text=out.model_dump_json()),
                   EmbeddedResource(type="resource", resource=TextResourceContents(
                       uri=uri, mime_type=made.format.mime, text=made.text))]
        return CallToolResult(content=content, structured_content=out.model_dump(mode="json"))
