"""The viewer's People page API (reelcore.channels.people.api over HTTP), mounted by web.py.

    GET  /api/people?named=1&limit=N         everyone found (list_people; `enabled` false: channel off)
    GET  /api/people/crop/{track}            a face track's crop (JPEG, from the people tables)
    POST /api/people/{person}/name           {"name": "..."}: name or rename (person: id)
    POST /api/people/merge                   {"people": [keep, other, ...], "drop_name": false}
    POST /api/people/split                   {"track": id}
    GET  /api/people/faces?video=&t=         the faces on screen at t in a video (video id)
    GET  /api/people/strip?person=&video=    a person's appearances across a video
    GET  /api/people/together?person=...     moments where all of them are on screen (find_scenes)

Crops are read from the database by track id: nothing in a request names a file. Every database
call runs in a worker thread (the event loop never touches the file system). The service's guard
covers these routes like the rest (loopback Host/Origin, bearer token); bodies are small JSON,
bounded by MAX_BODY.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reelcore.channels.people import api
from reelcore.channels.people.scenes import find_scenes_people
from reelcore.config import Settings
from reelcore.inputs import QueryError
from reelcore.query.search import SearchService

log = logging.getLogger(__name__)
MAX_BODY = 4096
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_VIDEO_ID = re.compile(r"^[0-9a-f]{16}$")


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status, headers=_HEADERS)


def _id(raw: str | None, what: str) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 12:
        raise QueryError(f"{what} must be a number (got {raw!r})")
    return int(raw)


def _video(raw: str | None) -> str:
    if raw is None or not _VIDEO_ID.match(raw):
        raise QueryError("video must be a catalogue video id (16 hex digits)")
    return raw


def people_routes(settings: Settings, work: Callable[..., Awaitable[Any]],
                  links: Callable[[str, float, float, float], dict[str, str]]) -> list[BaseRoute]:
    """`work(fn)` runs `fn(search_service)` in a worker thread (web.py); `links` signs a moment's media."""

    async def call(fn: Callable[[], Any]) -> Response:
        try:
            out = await anyio.to_thread.run_sync(fn)
        except QueryError as e:
            return _error(400, str(e))
        except Exception as e:
            log.exception("people API failed")
            return _error(500, f"internal error ({type(e).__name__}); the reelfind log has the details")
        return JSONResponse(out.model_dump(mode="json") if hasattr(out, "model_dump") else out, headers=_HEADERS)

    async def body(request: Request) -> dict[str, Any]:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise QueryError(f"request body over {MAX_BODY} bytes")
        try:
            got = json.loads(raw or b"{}")
        except ValueError:
            raise QueryError("the body must be JSON") from None
        if not isinstance(got, dict):
            raise QueryError("the body must be a JSON object")
        return got

    async def people(request: Request) -> Response:
        named = request.query_params.get("named") == "1"
        try:
            limit = _id(request.query_params.get("limit", "200"), "limit")
        except QueryError as e:
            return _error(400, str(e))
        return await call(lambda: api.list_people(settings, named, limit))

    async def crop(request: Request) -> Response:
        try:
            track = _id(request.path_params["track"], "track")
            data = await anyio.to_thread.run_sync(api.crop, settings, track)
        except QueryError as e:
            return _error(404, str(e))
        return Response(data, media_type="image/jpeg", headers={**_HEADERS, "Cache-Control": "private"})

    async def name(request: Request) -> Response:
        try:
            pid, got = _id(request.path_params["person"], "person"), await body(request)
        except QueryError as e:
            return _error(400, str(e))
        return await call(lambda: api.name_person(settings, pid, str(got.get("name", ""))))

    async def merge(request: Request) -> Response:
        try:
            got = await body(request)
            ids = [_id(str(x), "person") for x in got.get("people") or []]
            if len(ids) < 2:
                raise QueryError("select two or more people to merge")
        except QueryError as e:
            return _error(400, str(e))

        def run() -> Any:
            out = None
            for other in ids[1:]:
                out = api.merge_people(settings, ids[0], other, bool(got.get("drop_name")))
            return out

        return await call(run)

    async def split(request: Request) -> Response:
        try:
            track = _id(str((await body(request)).get("track")), "track")
        except QueryError as e:
            return _error(400, str(e))
        return await call(lambda: api.split_track(settings, track))

    async def faces(request: Request) -> Response:
        q = request.query_params
        try:
            video, t = _video(q.get("video")), float(q.get("t", "nan"))
            if t != t or t < 0 or t == float("inf"):
                raise ValueError
        except ValueError:
            return _error(400, "t must be a number of seconds")
        except QueryError as e:
            return _error(400, str(e))
        return await call(lambda: api.faces_at(settings, video, t))

    async def strip(request: Request) -> Response:
        q = request.query_params
        try:
            pid, video = _id(q.get("person"), "person"), _video(q.get("video"))
        except QueryError as e:
            return _error(400, str(e))
        return await call(lambda: {"person": pid, "video_id": video,
                                   "spans": [s.model_dump() for s in api.strip(settings, pid, video)]})

    async def together(request: Request) -> Response:
        names = [n for n in request.query_params.getlist("person") if n.strip()]

        def run(svc: SearchService) -> dict[str, Any]:
            out = find_scenes_people(svc, [], names or [""], 50).model_dump(mode="json")
            for sc in out["scenes"]:
                sc.update(links(sc["video_id"], sc["start"], sc["end"], sc["peak"]))
            return out

        try:
            if not names:
                raise QueryError("choose at least one person")
            return JSONResponse(await work(run), headers=_HEADERS)
        except QueryError as e:
            return _error(400, str(e))
        except Exception as e:
            log.exception("people together failed")
            return _error(503, f"the index is not available ({type(e).__name__})")

    return [
        Route("/api/people", people, methods=["GET"]),
        Route("/api/people/crop/{track}", crop, methods=["GET"]),
        Route("/api/people/merge", merge, methods=["POST"]),
        Route("/api/people/split", split, methods=["POST"]),
        Route("/api/people/faces", faces, methods=["GET"]),
        Route("/api/people/strip", strip, methods=["GET"]),
        Route("/api/people/together", together, methods=["GET"]),
        Route("/api/people/{person}/name", name, methods=["POST"]),
    ]
