"""The footage viewer in the browser: the page at `/`, its assets, the JSON API it uses, and media.

Routes (see `viewer_routes`):
    GET /                       the viewer page (strict Content-Security-Policy)
    GET /viewer/{asset}         its script and style sheet (a fixed list: no directory listing)
    GET /api/search|scenes|timeline|frames|links|videos|status     JSON for the page
    GET /api/transcript?video=&from=&to=   what is said in a span (get_transcript, bounded)
    GET /api/export             moments as an EDL/XML/FCPXML/OTIO/CSV download (daemon/export_route.py)
    GET|POST /api/people/...    the People page: faces, names, merges (daemon/people_routes.py)
    GET /media/{video_id}       the original file, with HTTP Range (206) for <video>
    GET /frame/{video_id}?t=    the indexed frame covering t (JPEG thumbnail)
    GET /clip/{video_id}?start=&end=   a short preview clip (reelcore.clips)

Media is addressed by catalogue video id only (16 hex digits), never by a path, and only for
catalogued, indexed files. The service's guard applies to all of it (loopback Host/Origin, bearer
token). A <video> or <img> cannot send an Authorization header, so when a token is set the API
hands out signed, short-lived URLs for /media, /frame and /clip (`?exp=&sig=`, HMAC keyed by the
token); `public_request` tells the bearer middleware which requests need no header: the static
page and its assets (no data in them) and correctly signed media URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from mcp_server.providers import ServiceUnavailable, work_slots
from reelcore.channels.fuse import search_channels
from reelcore.channels.speech.transcript import get_transcript
from reelcore.channels.visual.embedder import ModelLoadError
from reelcore.clips import ClipMaker
from reelcore.config import Settings
from reelcore.ingest.filetype import open_servable
from reelcore.inputs import QueryError
from reelcore.query.frames import filmstrip
from reelcore.query.search import SearchService
from reelcore.storage.catalog import CatalogError, FileRecord
from reelcore.storage.store import StoreError
from viewer import asset, page_html

from .export_route import export_route
from .people_routes import people_routes

log = logging.getLogger(__name__)

MEDIA_URL_TTL = 1800.0  # seconds a signed media URL stays valid
FILMSTRIP_MAX = 12
TRANSCRIPT_SPAN_MAX = 600.0  # seconds of transcript one /api/transcript answer covers at most
# Threads that may open and check media files at once. A file on a hung NFS mount holds its thread
# until the mount answers: past this many, media requests get 503 at once instead of queueing, and
# no other route (they never touch the footage) waits for them.
MEDIA_FILE_THREADS = 8
_UNAVAILABLE = (ServiceUnavailable, StoreError, ModelLoadError, CatalogError)
_VIDEO_ID = re.compile(r"^[0-9a-f]{16}$")
_SIGNED = ("/media/", "/frame/", "/clip/")
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'; object-src 'none'")
_SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                 "Cache-Control": "no-store"}
mimetypes.add_type("video/x-matroska", ".mkv")
mimetypes.add_type("video/webm", ".webm")
mimetypes.add_type("video/quicktime", ".mov")


class Signer:
    """Signs media paths (`/media/<id>`, `/frame/<id>`, `/clip/<id>`) for `ttl` seconds with a key
    derived from the bearer token. A signature covers the path and its expiry only: it grants one
    video's media for a while, whatever time or span is then asked for (so the page can add `t=`)."""

    def __init__(self, token: str | None, ttl: float = MEDIA_URL_TTL) -> None:
        self.key = hmac.new(token.encode(), b"reelfind-viewer-media-v1", hashlib.sha256).digest() if token else None
        self.ttl = ttl

    def _mac(self, path: str, exp: str) -> str:
        assert self.key is not None
        return hmac.new(self.key, f"{path}|{exp}".encode(), hashlib.sha256).hexdigest()[:32]

    def url(self, path: str, **params: Any) -> str:
        p = {k: _num(v) for k, v in params.items() if v is not None}
        if self.key is not None:
            p["exp"] = str(int(time.time() + self.ttl))
            p["sig"] = self._mac(path, p["exp"])
        return path + ("?" + urlencode(p) if p else "")

    def valid(self, path: str, query: str) -> bool:
        """True for a signature made by `url` that has not expired."""
        if self.key is None:
            return False
        params = dict(parse_qsl(query, keep_blank_values=True))
        sig, exp = params.get("sig", ""), params.get("exp", "")
        try:
            if float(exp) < time.time():
                return False
        except ValueError:
            return False
        # bytes: compare_digest raises TypeError on non-ASCII str (a forged sig must be a 401, not a 500)
        return hmac.compare_digest(sig.encode("utf-8", "replace"), self._mac(path, exp).encode())


def _num(v: Any) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def public_request(signer: Signer) -> Callable[[Scope], bool]:
    """For the bearer middleware: GETs that need no Authorization header (page, assets, signed media)."""

    def check(scope: Scope) -> bool:
        if scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
            return False
        path = scope.get("path", "")
        if path == "/" or path.startswith("/viewer/"):
            return True
        if path.startswith(_SIGNED):
            return signer.valid(path, scope.get("query_string", b"").decode("latin-1"))
        return False

    return check


def viewer_public(settings: Settings) -> Callable[[Scope], bool]:
    """`public_request` for the service's token (give it to daemon.app.build_app as `public`)."""
    return public_request(Signer(settings.server.token.get_secret_value() if settings.server.token else None))


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status, headers=_SAFE_HEADERS)


def _float(request: Request, name: str, default: float | None = None) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = float(raw)
    except ValueError:
        raise QueryError(f"{name} must be a number of seconds (got {raw!r})") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise QueryError(f"{name} must be a finite number")
    return v


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    try:
        return default if raw in (None, "") else int(raw)
    except ValueError:
        raise QueryError(f"{name} must be an integer (got {raw!r})") from None


def viewer_routes(get_search_service: Callable[[], SearchService], settings: Settings,
                  status_fn: Callable[[], dict[str, Any]] | None = None) -> list[BaseRoute]:
    """The viewer's routes; `status_fn` is the service's live /status (roots, progress, failures)."""
    token = settings.server.token.get_secret_value() if settings.server.token else None
    signer = Signer(token)
    clips_dir = settings.data_dir / "clips"

    async def work(fn: Callable[..., Any], *args: Any, query_slot: bool = True) -> Any:
        """`fn(service, *args)` in a worker thread; queries hold a query slot, clips do not (they
        wait in their own queue, reelcore.clips, and must never keep a query waiting)."""
        def run() -> Any:
            if not query_slot:
                return fn(get_search_service(), *args)
            with work_slots:
                return fn(get_search_service(), *args)

        return await anyio.to_thread.run_sync(run)

    media_files: list[anyio.CapacityLimiter] = []  # made on the event loop, on first use

    async def open_media(rec: FileRecord) -> tuple[int, os.stat_result] | None:
        """The checked descriptor of a catalogued file (open_servable), opened in a thread of its own
        limiter; raises _Busy when every such thread is taken (files on a hung share)."""
        if not media_files:
            media_files.append(anyio.CapacityLimiter(MEDIA_FILE_THREADS))
        if media_files[0].available_tokens < 1:
            raise _Busy()
        return await anyio.to_thread.run_sync(_open_checked, rec.path, rec.root, limiter=media_files[0])

    async def api(fn: Callable[..., Any], *args: Any) -> Response:
        try:
            out = await work(fn, *args)
        except QueryError as e:
            return _error(400, str(e))
        except _UNAVAILABLE as e:
            return _error(503, f"the index is not available: {e}")
        except Exception as e:
            log.exception("viewer API failed")
            return _error(500, f"internal error ({type(e).__name__}); the reelfind log has the details")
        return JSONResponse(out, headers=_SAFE_HEADERS)

    def record(svc: SearchService, video_id: str) -> FileRecord:
        """The indexed catalogue row of a video id; anything else (paths, unknown ids) is 'not found'."""
        rec = svc.catalog.get_by_video_id(video_id) if _VIDEO_ID.match(video_id) else None
        if rec is None or rec.frames <= 0:
            raise LookupError("no indexed video with that id")
        return rec

    def links(video_id: str, start: float, end: float, peak: float) -> dict[str, str]:
        return {"thumb_url": signer.url(f"/frame/{video_id}", t=peak),
                "media_url": signer.url(f"/media/{video_id}"),
                "clip_url": signer.url(f"/clip/{video_id}", start=start, end=min(end, start + 15.0))}

    def with_links(out: dict[str, Any], key: str) -> dict[str, Any]:
        for m in out[key]:
            m.update(links(m["video_id"], m["start"], m["end"], m["peak"]))
        return out

    # -- page and assets --------------------------------------------------------------------------
    async def page(_: Request) -> Response:
        html = await anyio.to_thread.run_sync(page_html)  # read from the install dir: never on the loop
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={**_SAFE_HEADERS, "Content-Security-Policy": PAGE_CSP})

    async def static(request: Request) -> Response:
        found = await anyio.to_thread.run_sync(asset, request.path_params["name"])
        if found is None:
            return _error(404, "not found")
        body, mime = found
        return Response(body, media_type=mime, headers=_SAFE_HEADERS)

    # -- JSON API ---------------------------------------------------------------------------------
    async def search(request: Request) -> Response:
        q = request.query_params

        # `channels` (repeated): which evidence to search ('seen', 'said', ...); none: every enabled one.
        channels = [c.strip() for c in q.getlist("channels") if c.strip()][:8] or None

        def run(svc: SearchService) -> dict[str, Any]:
            out = search_channels(svc, q.get("q", ""), channels, _int(request, "limit", 12), q.get("path") or None,
                                  None, q.get("exclude") or None)
            return with_links(out.model_dump(mode="json"), "moments")

        return await api(run)

    async def scenes(request: Request) -> Response:
        q = request.query_params
        concepts = [c.strip() for c in q.getlist("concept") if c.strip()]

        def run(svc: SearchService) -> dict[str, Any]:
            if not concepts:
                raise QueryError("give at least one concept (all of them must be in the picture)")
            out = svc.scenes(concepts, _int(request, "limit", 12), q.get("path") or None,
                             _float(request, "threshold_z", 2.5) or 0.0, 0.0)
            return with_links(out.model_dump(mode="json"), "scenes")

        return await api(run)

    async def timeline(request: Request) -> Response:
        q = request.query_params

        def run(svc: SearchService) -> dict[str, Any]:
            rec = record(svc, q.get("video", ""))
            out, _png = svc.timeline(rec.video_id, q.get("q", ""), _int(request, "max_points", 400), 5)
            d = out.model_dump(mode="json")
            d["frame_url"] = signer.url(f"/frame/{rec.video_id}")
            for p in d["peaks"]:
                p["thumb_url"] = signer.url(f"/frame/{rec.video_id}", t=p["time"])
            return d

        return await api(_lookup(run))

    async def frames(request: Request) -> Response:
        """The indexed frames across [start, end] (at most FILMSTRIP_MAX, evenly chosen) for a filmstrip."""
        q = request.query_params

        def run(svc: SearchService) -> dict[str, Any]:
            rec = record(svc, q.get("video", ""))
            start = _float(request, "start", 0.0) or 0.0
            strip = filmstrip(svc, rec, start, _float(request, "end", None), FILMSTRIP_MAX)
            return {"video_id": rec.video_id, "name": rec.path.rsplit("/", 1)[-1], "duration": rec.duration,
                    "frames": [{"start": round(f.t_start, 3), "end": round(f.t_end, 3),
                                "url": signer.url(f"/frame/{rec.video_id}", t=round(f.t_start, 3))}
                               for f in strip]}

        return await api(_lookup(run))

    async def transcript(request: Request) -> Response:
        """What is said in [from, to] of an indexed video (at most TRANSCRIPT_SPAN_MAX seconds)."""
        q = request.query_params

        def run(svc: SearchService) -> dict[str, Any]:
            rec = record(svc, q.get("video", ""))
            t_from = _float(request, "from", 0.0) or 0.0
            t_to = _float(request, "to", t_from + TRANSCRIPT_SPAN_MAX)
            if t_to is not None and t_to - t_from > TRANSCRIPT_SPAN_MAX:
                raise QueryError(f"ask at most {TRANSCRIPT_SPAN_MAX:.0f} s of transcript at once")
            return get_transcript(svc, rec.video_id, t_from, t_to).model_dump(mode="json")

        return await api(_lookup(run))

    async def play_links(request: Request) -> Response:
        q = request.query_params

        def run(svc: SearchService) -> dict[str, Any]:
            rec = record(svc, q.get("video", ""))
            start = _float(request, "start", 0.0) or 0.0
            end = _float(request, "end", start + 15.0) or start + 15.0
            return links(rec.video_id, start, end, start)

        return await api(_lookup(run))

    async def videos(request: Request) -> Response:
        q = request.query_params

        def run(svc: SearchService) -> dict[str, Any]:
            # The page size is the server's: the viewer pages with the `limit` it gets back.
            limit = _int(request, "limit", min(200, svc.settings.query.max_limit))
            out = svc.list_videos(q.get("path") or None, q.get("state") or None, limit, _int(request, "offset", 0))
            d = out.model_dump(mode="json")
            for v in d["videos"]:
                v["media_url"] = signer.url(f"/media/{v['video_id']}") if v["frames"] > 0 else None
            return d

        return await api(run)

    async def status(_: Request) -> Response:
        if status_fn is not None:
            try:
                return JSONResponse(await anyio.to_thread.run_sync(status_fn), headers=_SAFE_HEADERS)
            except Exception as e:  # e.g. still starting
                return _error(503, f"status not available: {e}")
        return await api(lambda svc: svc.status(None).model_dump(mode="json"))

    # -- media ------------------------------------------------------------------------------------
    async def media(request: Request) -> Response:
        try:
            rec = await work(record, request.path_params["video_id"])
            opened = None if rec.unavailable else await open_media(rec)
        except LookupError as e:
            return _error(404, str(e))
        except _UNAVAILABLE as e:
            return _error(503, f"the index is not available: {e}")
        except _Busy:
            return _busy()
        if opened is None:
            return _error(410, "the file is not available (moved, deleted or its share is offline)")
        mime = mimetypes.guess_type(rec.path)[0] or ""
        if not mime.startswith("video/"):  # never let a catalogued name make the browser run a page
            mime = "application/octet-stream"
        return _DescriptorResponse(*opened, media_type=mime, content_disposition_type="inline",
                                   headers={**_SAFE_HEADERS, "Cache-Control": "private, max-age=60",
                                            "Content-Security-Policy": "sandbox"})

    async def frame(request: Request) -> Response:
        vid = request.path_params["video_id"]

        def run(svc: SearchService) -> bytes:
            rec = record(svc, vid)
            out = svc.frame(rec.video_id, _float(request, "t", 0.0) or 0.0)
            thumbs = svc.settings.thumbs_dir.resolve()
            real = Path(out.thumbnail).resolve(strict=True)
            if not real.is_relative_to(thumbs):
                raise LookupError("no such frame")
            return real.read_bytes()

        try:
            data = await work(run)
        except LookupError as e:
            return _error(404, str(e))
        except _UNAVAILABLE as e:
            return _error(503, f"the index is not available: {e}")
        except (QueryError, OSError) as e:
            return _error(400 if isinstance(e, QueryError) else 404, str(e))
        return Response(data, media_type="image/jpeg",
                        headers={**_SAFE_HEADERS, "Cache-Control": "private, max-age=300"})

    async def clip(request: Request) -> Response:
        vid = request.path_params["video_id"]

        def run(svc: SearchService) -> tuple[bytes, str]:
            rec = record(svc, vid)
            maker = ClipMaker(svc.catalog, clips_dir)
            c = maker.clip(rec.video_id, _float(request, "start", 0.0) or 0.0, _float(request, "end"))
            # Clips are small (capped): read the bytes here, in the thread (never on the event
            # loop), so a concurrent cache trim cannot race the response either.
            return Path(c.path).read_bytes(), c.mime_type

        try:
            data, mime_type = await work(run, query_slot=False)
        except LookupError as e:
            return _error(404, str(e))
        except _UNAVAILABLE as e:
            return _error(503, f"the index is not available: {e}")
        except QueryError as e:
            return _error(400, str(e))
        except OSError as e:  # e.g. the cached clip was trimmed meanwhile, or the source vanished
            return _error(404, f"clip not available: {e}")
        return Response(data, media_type=mime_type, headers={**_SAFE_HEADERS, "Cache-Control": "private"})

    return [
        Route("/", page, methods=["GET"]),
        Route("/viewer/{name}", static, methods=["GET"]),
        Route("/api/search", search, methods=["GET"]),
        Route("/api/scenes", scenes, methods=["GET"]),
        Route("/api/timeline", timeline, methods=["GET"]),
        Route("/api/frames", frames, methods=["GET"]),
        Route("/api/links", play_links, methods=["GET"]),
        Route("/api/transcript", transcript, methods=["GET"]),
        Route("/api/videos", videos, methods=["GET"]),
        Route("/api/status", status, methods=["GET"]),
        Route("/media/{video_id}", media, methods=["GET"]),
        Route("/frame/{video_id}", frame, methods=["GET"]),
        Route("/clip/{video_id}", clip, methods=["GET"]),
        export_route(work),  # GET /api/export: moments as a file for an editing application
        *people_routes(settings, work, links),  # /api/people/...: the People page (daemon/people_routes.py)
    ]


def _open_checked(path: str, root: str) -> tuple[int, os.stat_result] | None:
    """open_servable + fstat, both in a worker thread (a hung share blocks there, not the loop)."""
    fd = open_servable(path, root)
    if fd is None:
        return None
    try:
        return fd, os.fstat(fd)
    except OSError:
        os.close(fd)
        return None


class _Busy(Exception):
    """Every media-file thread is taken (files on a hung share): answer 503 now, do not queue."""


def _busy() -> Response:
    r = _error(503, "busy reading other media files (a share may be hanging); try again shortly")
    r.headers["Retry-After"] = "5"
    return r


class _DescriptorResponse(FileResponse):
    """A FileResponse (Range requests, 206) over a descriptor already opened and checked
    (reelcore.ingest.filetype.open_servable), never over the catalogued name again: on Linux
    /proc/self/fd/N reopens that very file even if its name has been swapped for a symlink since.
    The descriptor is closed when the response ends, however it ends."""

    def __init__(self, fd: int, st: os.stat_result, **kwargs: Any) -> None:
        self.fd = fd
        super().__init__(f"/proc/self/fd/{fd}", stat_result=st, **kwargs)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            os.close(self.fd)


def _lookup(fn: Callable[[SearchService], Any]) -> Callable[[SearchService], Any]:
    """Unknown video ids in the JSON API are bad input (400) like any other."""

    def run(svc: SearchService) -> Any:
        try:
            return fn(svc)
        except LookupError as e:
            raise QueryError(str(e)) from None

    return run
