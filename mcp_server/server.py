"""The reelfind MCP server: tools, a resource and prompts over the query side (mcp v2 `MCPServer`).

Public entry points (used by `reelfind serve` and `reelfind mcp`):

    build_server(provider) -> MCPServer
        All tools/resources/prompts. `provider` is a `mcp_server.providers.ServiceProvider`:
        an object with `settings`, `search_service() -> SearchService` (blocking, called in a
        worker thread) and `current_work() -> dict | None` (live indexer progress). Use
        `RuntimeProvider(runtime)` inside the service, `LocalProvider(settings)` standalone.

    http_app(settings, provider) -> Starlette
        Streamable HTTP at /mcp. Its lifespan runs the MCP session manager and warms the model.
        It has no guard of its own: `reelfind serve` mounts it in its one app (daemon/app.py),
        which installs the loopback/Origin checks and the bearer token around every route; enter
        `app.router.lifespan_context(app)` from the parent's lifespan (Starlette does not run a
        mounted app's lifespan).

Tools never block the event loop: store, model and catalog work runs in worker threads, at most
`providers.MAX_PARALLEL` at a time. Bad input becomes a tool error (is_error result) with a clear message.
A tool that needs the model while it is still loading (the service's first seconds) waits for it, up
to MODEL_WAIT seconds, sending `notifications/progress` every second when the client sent a progress
token; after that it answers a tool error saying the model is loading and when to try again.
"""

# No `from __future__ import annotations`: tool signatures use closure-local Annotated aliases
# that MCPServer must evaluate at registration.
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from starlette.applications import Starlette

from reelcore.channels.fuse import search_channels
from reelcore.channels.people.scenes import find_scenes_people
from reelcore.channels.scenes_said import find_scenes_channels
from reelcore.channels.speech.transcript import get_transcript as get_transcript_of
from reelcore.channels.visual.embedder import ModelLoadError
from reelcore.config import Settings
from reelcore.inputs import MAX_IMAGE_BASE64, MAX_OFFSET, TIMELINE_PEAKS, TIMELINE_POINTS, QueryError
from reelcore.models import FrameOut, ScenesOut, SearchOut, StatusOut, TimelineOut, TranscriptOut, VideoListOut
from reelcore.query.search import SearchService
from reelcore.storage.catalog import CatalogError
from reelcore.storage.store import StoreError

from .apps import build_apps, ui_meta
from .exports import register_export_tool
from .people_tools import INSTRUCTIONS as PEOPLE_INSTRUCTIONS
from .people_tools import register_people_tools
from .providers import ServiceProvider, ServiceUnavailable, using, warm_in_background, work_slots

log = logging.getLogger(__name__)

MAX_THUMBNAILS = 10
RESOURCE_VIDEO_CAP = 1000
MAX_HTTP_BODY = 24 * 1024 * 1024  # a base64 image of up to 16 MB fits (the SDK default is 4 MiB)
MODEL_WAIT = 60.0  # seconds a search waits for the model to finish loading before saying so
PROGRESS_EVERY = 1.0  # seconds between progress notifications while it waits
_T = TypeVar("_T")

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)

INSTRUCTIONS = """\
reelfind searches video footage by what is in the picture (CLIP embeddings of sampled frames): \
free text such as names, objects, actions, places, text shown on screen; misspellings are fine.
- search_footage: moments for one description. find_scenes: stretches where several things hold \
at once (all_of=["a", "b"]). score_timeline: where in ONE video something appears (curve + heatmap). \
similar_moments / search_by_image: look-alike moments. get_frame: look at a moment. list_videos, \
index_status: what is indexed.
- Speech: search_footage also finds moments where the words are SAID (subtitles, transcripts); each \
moment lists its channels ('seen', 'said') and, for 'said', the quote and word times; \
channels=["said"] searches only speech. get_transcript(video, t_from, t_to): the words of a span, to quote.
- On-screen text (slates, titles, lower thirds, signs): channels=["written"] finds exact words and \
phrases read from the picture (numbers must match: scene 42 is not scene 24); a 'written' moment has \
the line, its time span and its box.
- export_moments: moments as a file for an editing application \
(EDL, FCP7 XML, FCPXML, OTIO, CSV) with the files' own timecode.
- Every answer has match = good / weak / none and a message: 'none' means the footage probably \
does not contain it; say so instead of presenting those results as found. Look at the thumbnails \
to confirm before asserting what a moment shows.
- Times are seconds from the start of the file; `uri` opens the file at that time.
""" + PEOPLE_INSTRUCTIONS


# -- plumbing ---------------------------------------------------------------------------------------

async def _run(provider: ServiceProvider, fn: Callable[..., _T], *args: Any) -> _T:
    """Run `fn(service, *args)` in a worker thread; map expected failures to clear tool errors."""

    def work() -> _T:
        with work_slots, using(provider) as svc:
            return fn(svc, *args)

    try:
        return await anyio.to_thread.run_sync(work)
    except QueryError as e:
        raise ToolError(str(e)) from None
    except (ServiceUnavailable, StoreError, ModelLoadError, CatalogError) as e:
        raise ToolError(f"the index is not available: {e}") from None
    except Exception as e:
        log.exception("tool failed")
        raise ToolError(f"internal error ({type(e).__name__}); the reelfind log has the details") from None


async def _model_ready(provider: ServiceProvider, ctx: Context | None) -> None:
    """Wait for the model a search needs, if it is still loading: in a thread (the event loop stays
    free), at most MODEL_WAIT seconds, reporting progress (a no-op without a progress token)."""
    emb = getattr(provider, "embedder", None)
    if emb is None or emb.loaded:
        return
    t0 = time.monotonic()
    failed: BaseException | None = None
    loaded = False

    async def report() -> None:
        while True:
            waited = time.monotonic() - t0
            try:
                await ctx.report_progress(round(waited, 1), None,  # type: ignore[union-attr]
                                          f"loading the model {emb.identity} ({waited:.0f} s)")
            except Exception as e:  # the client went away: the wait itself still ends on its own
                log.debug("progress notification failed: %s", e)
                return
            await anyio.sleep(PROGRESS_EVERY)

    async with anyio.create_task_group() as tg:
        if ctx is not None:
            tg.start_soon(report)
        with anyio.move_on_after(MODEL_WAIT):
            try:
                # Already loading in the service's worker (or warm-up): this joins that load (one lock).
                await anyio.to_thread.run_sync(emb.load, abandon_on_cancel=True)
                loaded = True
            except Exception as e:
                failed = e
        tg.cancel_scope.cancel()
    if failed is not None:
        raise ToolError(f"the index is not available: {failed}") from None
    if not loaded:
        raise ToolError(f"the model ({emb.identity}) is still loading (waited {MODEL_WAIT:.0f} s); "
                        "try again in a minute (index_status says when model_loaded is true)")


def _image(path: str | None, thumbs_dir: Path) -> bytes | None:
    """A stored thumbnail's bytes. Only files inside the thumbnail folder are ever read: the path is
    built from store metadata (a shared Chroma server is another trust domain), never from input."""
    if not path:
        return None
    try:
        real = Path(path).resolve(strict=True)
        if not real.is_relative_to(thumbs_dir.resolve()) or real.suffix.lower() != ".jpg":
            log.warning("not reading %s: outside the thumbnail folder", path)
            return None
        return real.read_bytes()
    except OSError:
        return None


def _result(model: BaseModel, images: list[tuple[str, bytes | None, str]] | None = None) -> CallToolResult:
    """Structured content plus the same JSON as text, then captioned images."""
    content: list[ContentBlock] = [TextContent(type="text", text=model.model_dump_json())]
    for caption, data, mime in images or []:
        if data:
            content.append(TextContent(type="text", text=caption))
            content.append(ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type=mime))
    return CallToolResult(content=content, structured_content=model.model_dump(mode="json"))


def _moment_images(out: SearchOut | ScenesOut, n: int, thumbs_dir: Path) -> list[tuple[str, bytes | None, str]]:
    items = out.moments if isinstance(out, SearchOut) else out.scenes
    return [(f"#{m.rank} {m.name} {m.start:.1f}-{m.end:.1f} s (peak {m.peak:.1f} s, z {m.z})",
             _image(m.thumbnail, thumbs_dir), "image/jpeg") for m in items[:n]]


# -- the server -------------------------------------------------------------------------------------

def build_server(provider: ServiceProvider, *, warm: bool = True, http_base: str | None = None) -> MCPServer:
    """The reelfind MCP server over `provider` (see the module docstring); `warm`: get the provider
    ready (model, background sample) in the background when a session starts; `http_base`: the
    service's base URL when it serves HTTP (export_moments links its download route)."""
    q = provider.settings.query
    thumbs_dir = provider.settings.thumbs_dir
    Query = Annotated[str, Field(min_length=1, max_length=q.max_query_chars,
                                 description="what should be in the picture, in plain words")]
    Limit = Annotated[int, Field(ge=1, le=q.max_limit, description="how many results")]
    Glob = Annotated[str | None, Field(max_length=1000, description=(
        "only videos whose full path or file name matches this glob, e.g. '*.mp4' or '/footage/2024/*'"))]
    Video = Annotated[str, Field(min_length=1, max_length=4096, description=(
        "an indexed video: its video_id, its path as list_videos shows it, or a file name that is unique"))]
    Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False, description="seconds from the start of the video")]
    Thumbs = Annotated[int, Field(ge=0, le=MAX_THUMBNAILS, description="attach thumbnails of the top N results")]
    People = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]] | None, Field(
        max_length=8, description=(
            "only moments where ALL these people are on screen at the same time: names or 'Person N' "
            "as list_people shows them (call list_people first)"))]
    MinScore = Annotated[float | None, Field(ge=-1, le=1, allow_inf_nan=False, description=(
        "drop frames whose cosine score is below this (scores are model-specific; prefer the z values)"))]

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[None]:
        if warm:
            warm_in_background(provider)
        yield

    mcp: MCPServer = MCPServer("reelfind", title="reelfind footage search", instructions=INSTRUCTIONS,
                               version="0.1.0", lifespan=lifespan, log_level=provider.settings.log_level,
                               extensions=[build_apps(provider)])  # the viewer (ui://) + preview_clip

    @mcp.tool(title="Search footage", annotations=READ_ONLY, meta=ui_meta())
    async def search_footage(query: Query, limit: Limit = 10, path_glob: Glob = None, min_score: MinScore = None,
                             exclude: Annotated[str | None, Field(max_length=q.max_query_chars, description=(
                                 "optional: lower frames that match this description, e.g. 'night'"))] = None,
                             thumbnails: Thumbs = 3,
                             t_from: Annotated[float | None, Field(ge=0, allow_inf_nan=False, description=(
                                 "only moments after this time (seconds from the start of each video)"))] = None,
                             t_to: Annotated[float | None, Field(gt=0, allow_inf_nan=False, description=(
                                 "only moments before this time (seconds from the start of each video)"))] = None,
                             channels: Annotated[list[Literal["seen", "said", "written", "who"]] | None, Field(
                                 max_length=4, description=(
                                     "which evidence to search: 'seen' (the picture), 'said' (what is said: "
                                     "subtitles and transcripts), 'written' (on-screen text: slates, titles, "
                                     "lower thirds, signs), 'who' (people named in the query); default every "
                                     "enabled one"))] = None,
                             people: People = None,
                             ctx: Context | None = None) -> Annotated[CallToolResult, SearchOut]:
        """Find moments in the indexed videos that match a description.

        Returns ranked moments (file path, start/end/peak seconds, score, z = sigmas above the
        query's background, a file:// URI that plays from the start) merged from neighbouring
        matching frames, with thumbnails of the top results attached. `match`/`message` say
        whether anything really matched: 'none' means no good match exists in the footage.
        people=[...] (names from list_people: call it first) keeps only moments where they are all
        on screen ('who' among the moment's channels).
        """
        if not channels or "seen" in channels:
            await _model_ready(provider, ctx)
        out = await _run(provider, search_channels, query, channels, limit, path_glob, min_score, exclude, t_from,
                         t_to, people)
        return _result(out, _moment_images(out, thumbnails, thumbs_dir))

    @mcp.tool(title="Find scenes where things appear together", annotations=READ_ONLY, meta=ui_meta())
    async def find_scenes(
        description: Annotated[str | None, Field(max_length=q.max_query_chars, description=(
            "one thing that must be in the picture (use all_of for several at once)"))] = None,
        all_of: Annotated[list[Annotated[str, Field(min_length=1, max_length=q.max_query_chars)]] | None,
                          Field(max_length=8, description=(
                              "things that must ALL be in the picture at the same time, e.g. "
                              "['Aragorn', 'Legolas'] or ['a car', 'two people talking']; an item "
                              "'said:<words>' must be said there instead, e.g. ['a boat', 'said:storm']"))] = None,
        limit: Limit = 10, path_glob: Glob = None,
        threshold_z: Annotated[float, Field(ge=0, le=20, allow_inf_nan=False, description=(
            "every concept must be at least this many sigmas above its background; lower finds more"))] = 2.5,
        min_duration: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False,
                                             description="drop scenes shorter than this (seconds)")] = 0.0,
        people: People = None, thumbnails: Thumbs = 3, ctx: Context | None = None,
    ) -> Annotated[CallToolResult, ScenesOut]:
        """Find contiguous scenes where every given concept holds at once (soft AND).

        A frame scores by its weakest concept, so 'Aragorn' + 'Legolas' finds them together, not
        either alone. Scenes are runs of such frames, with bounds widened to shot cuts where most
        of the shot qualifies. Each scene has start/end/peak seconds, per-concept z at the peak,
        the shots it spans, a thumbnail and a playable URI. people=["Maria", "Tom"] (call
        list_people first for the names): scenes where all of them are on screen at once, alone or
        with all_of; each scene's `who` has each person's appearances in that video (a heat strip).
        """
        concepts = ([description] if description and description.strip() else []) + list(all_of or [])
        if not concepts and not people:
            raise ToolError("give a description, all_of=[...] (the things that must be in the picture) or people")
        if any(not c.strip().lower().startswith("said:") for c in concepts):
            await _model_ready(provider, ctx)
        if people:
            out = await _run(provider, find_scenes_people, concepts, people, limit, path_glob, threshold_z,
                             min_duration)
        else:
            out = await _run(provider, find_scenes_channels, concepts, limit, path_glob, threshold_z, min_duration)
        return _result(out, _moment_images(out, thumbnails, thumbs_dir))

    @mcp.tool(title="Moments similar to a moment", annotations=READ_ONLY, meta=ui_meta())
    async def similar_moments(video: Video, time: Seconds, limit: Limit = 10, path_glob: Glob = None,
                              same_video: Annotated[bool, Field(description=(
                                  "also return other moments of the same video"))] = True,
                              thumbnails: Thumbs = 3) -> Annotated[CallToolResult, SearchOut]:
        """Find moments that look like the indexed frame of `video` at `time` (that moment itself excluded)."""
        out = await _run(provider, SearchService.similar, video, time, limit, path_glob, same_video)
        return _result(out, _moment_images(out, thumbnails, thumbs_dir))

    @mcp.tool(title="Search by image", annotations=READ_ONLY, meta=ui_meta())
    async def search_by_image(
        image_base64: Annotated[str | None, Field(max_length=MAX_IMAGE_BASE64, description=(
            "the image as base64 (PNG, JPEG, WebP, GIF or BMP, up to 16 MB; a data: URL is fine)"))] = None,
        video: Annotated[str | None, Field(max_length=4096, description=(
            "instead of an image: an indexed video (with `time`) whose frame to search by"))] = None,
        time: Annotated[float | None, Field(ge=0, allow_inf_nan=False, description="seconds, with `video`")] = None,
        limit: Limit = 10, path_glob: Glob = None, min_score: MinScore = None, thumbnails: Thumbs = 3,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, SearchOut]:
        """Find moments that look like an image: given as base64, or an indexed frame (video + time)."""
        if (image_base64 is None) == (video is None):
            raise ToolError("give either image_base64, or video and time (not both)")
        if video is not None:
            if time is None:
                raise ToolError("with video, also give time (seconds)")
            out = await _run(provider, SearchService.similar, video, time, limit, path_glob, True)
        else:
            await _model_ready(provider, ctx)
            out = await _run(provider, SearchService.search_image, image_base64, limit, path_glob, min_score)
        return _result(out, _moment_images(out, thumbnails, thumbs_dir))

    @mcp.tool(title="Score timeline of one video", annotations=READ_ONLY, meta=ui_meta())
    async def score_timeline(
        video: Video, query: Query,
        max_points: Annotated[int, Field(ge=TIMELINE_POINTS[0], le=TIMELINE_POINTS[1], description=(
            "at most this many points (longer videos are binned, keeping each bin's best frame)"))] = 300,
        peaks: Annotated[int, Field(ge=TIMELINE_PEAKS[0], le=TIMELINE_PEAKS[1],
                                    description="how many top peaks to list")] = 5,
        thumbnails: Thumbs = 3, ctx: Context | None = None,
    ) -> Annotated[CallToolResult, TimelineOut]:
        """Where in one video does something appear? Scores every indexed frame of the video.

        Returns the score curve over the whole video (points with start/end seconds, score and
        z), the top peaks with times and thumbnails, and a PNG heatmap strip (time left to
        right; dark = background, yellow = strong match, white marks = peaks).
        """
        await _model_ready(provider, ctx)
        out, png = await _run(provider, SearchService.timeline, video, query, max_points, peaks)
        images = [(out.heatmap, png, "image/png")]
        images += [(f"peak {k + 1}: {p.time:.1f} s (z {p.z})", _image(p.thumbnail, thumbs_dir), "image/jpeg")
                   for k, p in enumerate(out.peaks[:thumbnails])]
        return _result(out, images)

    @mcp.tool(title="Get a frame", annotations=READ_ONLY)
    async def get_frame(video: Video, time: Seconds) -> Annotated[CallToolResult, FrameOut]:
        """Look at an indexed video at a time: returns the indexed frame covering that time as an image.

        Only indexed videos can be read (see list_videos); the image is the stored preview
        (shorter side about 256 px) of the sampled frame standing for [start, end) seconds.
        """
        out = await _run(provider, SearchService.frame, video, time)
        return _result(out, [(f"{out.name} at {out.start:.2f} s", _image(out.thumbnail, thumbs_dir), "image/jpeg")])

    @mcp.tool(title="Transcript of a span", annotations=READ_ONLY)
    async def get_transcript(video: Video,
                             t_from: Annotated[float | None, Field(ge=0, allow_inf_nan=False, description=(
                                 "from this time (seconds); default the start"))] = None,
                             t_to: Annotated[float | None, Field(gt=0, allow_inf_nan=False, description=(
                                 "to this time (seconds); default the end"))] = None) -> TranscriptOut:
        """What is said in a video between two times: transcript segments with times, language and
        source (subtitle file, subtitle stream or speech recognition), word times where known.
        Bounded (500 segments); `truncated` says to ask for a shorter span. Quote from it."""
        return await _run(provider, get_transcript_of, video, t_from, t_to)

    @mcp.tool(title="List indexed videos", annotations=READ_ONLY)
    async def list_videos(path_glob: Glob = None,
                          state: Annotated[Literal["pending", "indexing", "indexed", "failed"] | None,
                                           Field(description="only videos in this state")] = None,
                          limit: Annotated[int, Field(ge=1, le=q.max_limit)] = 50,
                          offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0) -> VideoListOut:
        """List the videos reelfind knows: path, video_id, state, duration, frames, errors; paged."""
        return await _run(provider, SearchService.list_videos, path_glob, state, limit, offset)

    @mcp.tool(title="Index status", annotations=READ_ONLY)
    async def index_status() -> StatusOut:
        """What is indexed and what the indexer is doing now.

        File counts per state, frame vectors in the store, the file being indexed and the speed,
        failed files with reasons, the model identity and the indexed roots.
        """
        current = await anyio.to_thread.run_sync(provider.current_work)
        return await _run(provider, SearchService.status, current)

    register_export_tool(mcp, provider, _run, http_base)  # export_moments (mcp_server/exports.py)
    register_people_tools(mcp, provider)  # list_people, name_person (mcp_server/people_tools.py)

    @mcp.resource("reelfind://videos", name="videos", title="Indexed videos", mime_type="application/json",
                  description=f"All catalogued videos (first {RESOURCE_VIDEO_CAP}) with state, duration, frames")
    async def videos_resource() -> str:
        def work() -> str:
            # The list_videos tool's pages (so with a shared store also other machines' videos).
            videos: list[dict[str, Any]] = []
            with work_slots, using(provider) as svc:
                while len(videos) < RESOURCE_VIDEO_CAP:
                    limit = min(svc.settings.query.max_limit, RESOURCE_VIDEO_CAP - len(videos))
                    page = svc.list_videos(None, None, limit, len(videos))
                    videos += [v.model_dump(mode="json") for v in page.videos]
                    if not page.videos or len(videos) >= page.total:
                        break
            return json.dumps(videos)

        return await anyio.to_thread.run_sync(work)

    @mcp.prompt(title="Find moments")
    def find_moments(description: str) -> str:
        """Find and verify moments in the footage that show a description."""
        return (f"Use reelfind's search_footage to find moments showing: {description}. Check the match "
                "label and look at the thumbnails before saying what a moment shows; if match is 'none', "
                "say the footage does not seem to contain it. List file, start-end time and the URI.")

    @mcp.prompt(title="Where in a video")
    def where_in_video(video: str, description: str) -> str:
        """Locate something inside one video with a score timeline."""
        return (f"Use reelfind's score_timeline on video {video!r} for: {description}. Report the peak "
                "times with their z values, look at the heatmap and peak thumbnails, and say if it is "
                "absent (match 'none').")

    return mcp


# -- HTTP ---------------------------------------------------------------------------------------------

def http_app(settings: Settings, provider: ServiceProvider) -> Starlette:
    """Streamable HTTP MCP at /mcp (unguarded: mount it in daemon/app.py's app, see the module docstring)."""
    mcp = build_server(provider, http_base=settings.mcp_url.rsplit("/mcp", 1)[0])
    inner = mcp.streamable_http_app(streamable_http_path="/mcp", host=settings.server.host,
                                    max_request_body_size=MAX_HTTP_BODY)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            warm_in_background(provider)
            yield

    app = Starlette(routes=list(inner.routes), lifespan=lifespan)
    app.state.mcp = mcp
    return app


__all__ = ["build_server", "http_app"]
