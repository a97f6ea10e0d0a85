"""The viewer as an MCP App: the `ui://` resource the search tools carry, and the preview-clip tool.

`build_apps(provider)` returns an `mcp.server.apps.Apps` extension for `MCPServer(extensions=[...])`:
- the resource `VIEWER_URI`, the viewer's HTML with its script and style inlined
  (`text/html;profile=mcp-app`; it needs no network: everything comes through the host);
- `preview_clip`, a tool for the app (visibility "app"): a short MP4/WebM of a moment
  (reelcore.clips) as an embedded blob resource, plus the indexed frames across it for the
  app's filmstrip. The iframe cannot reach the service, so this is how the moment plays inline.
The search tools are bound to the viewer with `meta=ui_meta()` (the `_meta.ui.resourceUri` that
`@apps.tool(resource_uri=...)` would stamp). Hosts that did not negotiate Apps ignore it and get
the tools' usual text, structured content and images.
"""

# No `from __future__ import annotations`: MCPServer evaluates the tool signature at registration.
import base64
from typing import Annotated, Any

import anyio
from mcp.server.apps import Apps
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import BlobResourceContents, CallToolResult, EmbeddedResource, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from reelcore.clips import MAX_SPAN, ClipMaker
from reelcore.inputs import QueryError
from reelcore.query.frames import filmstrip
from reelcore.storage.catalog import CatalogError
from reelcore.storage.store import StoreError
from viewer import app_html

from .providers import ServiceProvider, ServiceUnavailable, using

VIEWER_URI = "ui://reelfind/viewer.html"
FILMSTRIP_MAX = 12


def ui_meta() -> dict[str, Any]:
    """Tool `_meta` binding a tool to the viewer (the nested key of the Apps spec, and the flat
    `ui/resourceUri` key older hosts read)."""
    return {"ui": {"resourceUri": VIEWER_URI}, "ui/resourceUri": VIEWER_URI}


class FrameSpan(BaseModel):
    start: float
    end: float


class ClipOut(BaseModel):
    video_id: str
    name: str
    start: float = Field(description="seconds from the start of the video where the clip begins")
    end: float
    width: int
    height: int
    mime_type: str
    bytes: int
    cached: bool
    frames: list[FrameSpan] = Field(description="indexed frames across the span (for a filmstrip: get_frame)")


def build_apps(provider: ServiceProvider) -> Apps:
    apps = Apps()
    apps.add_html_resource(
        VIEWER_URI, app_html(), name="reelfind-viewer", title="reelfind footage viewer",
        description="Shows search results as cards, per-video score timelines, frames and a playable preview",
        prefers_border=True)
    clips_dir = provider.settings.data_dir / "clips"

    @apps.tool(resource_uri=VIEWER_URI, visibility=["app"], title="Preview clip of a moment",
               annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                           open_world_hint=False))
    async def preview_clip(
        video: Annotated[str, Field(min_length=1, max_length=4096, description="video_id of an indexed video")],
        start: Annotated[float, Field(ge=0, allow_inf_nan=False, description="seconds")],
        end: Annotated[float | None, Field(ge=0, allow_inf_nan=False, description=(
            f"seconds; at most {MAX_SPAN:.0f} s after start (default start + {MAX_SPAN:.0f} s)"))] = None,
    ) -> Annotated[CallToolResult, ClipOut]:
        """A short preview clip (at most 15 s, at most 480p, no audio) of an indexed video, for the viewer."""

        def work() -> tuple[ClipOut, bytes]:
            # No query slot: clips wait in their own queue (reelcore.clips), never before queries.
            with using(provider) as svc:
                rec = svc.resolve_video(video)
                clip = ClipMaker(svc.catalog, clips_dir).clip(rec.video_id, start, end)
                strip = filmstrip(svc, rec, clip.start, clip.end, FILMSTRIP_MAX)
            data = clip.path.read_bytes()
            out = ClipOut(video_id=rec.video_id, name=rec.path.rsplit("/", 1)[-1], start=clip.start, end=clip.end,
                          width=clip.width, height=clip.height, mime_type=clip.mime_type, bytes=len(data),
                          cached=clip.cached,
                          frames=[FrameSpan(start=round(f.t_start, 3), end=round(f.t_end, 3)) for f in strip])
            return out, data

        try:
            out, data = await anyio.to_thread.run_sync(work)
        except QueryError as e:
            raise ToolError(str(e)) from None
        except (ServiceUnavailable, StoreError, CatalogError) as e:
            raise ToolError(f"the index is not available: {e}") from None
        except OSError as e:
            raise ToolError(f"cannot read the preview clip: {e}") from None
        blob = BlobResourceContents(uri=f"reelfind://clip/{out.video_id}?start={out.start}&end={out.end}",
                                    mime_type=out.mime_type, blob=base64.b64encode(data).decode())
        return CallToolResult(content=[TextContent(type="text", text=out.model_dump_json()),
                                       EmbeddedResource(type="resource", resource=blob)],
                              structured_content=out.model_dump(mode="json"))

    return apps
