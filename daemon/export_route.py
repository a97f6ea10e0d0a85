"""GET /api/export: the viewer's (and export_moments' download link's) file download.

Query parameters: `format` (edl, fcp7, fcpxml, otio, csv) and one question, as the other API
routes take it: `q` (a search), `concept` (repeated: scenes), `video` + `q` (timeline peaks) or
`moment=VIDEO@START-END` (repeated: a hand-picked selection; VIDEO a catalogue video id);
optional `limit`, `path`, `label`. Answers the file as an attachment; bad input is a 400 JSON
error like the rest of the API. The service's guard (loopback, bearer token) covers it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_server.providers import ServiceUnavailable
from reelcore.channels.visual.embedder import ModelLoadError
from reelcore.export import MAX_EXPORT_MOMENTS, ExportFile
from reelcore.export.moments import parse_moment
from reelcore.export.query import export_answer
from reelcore.inputs import QueryError
from reelcore.query.search import SearchService
from reelcore.storage.catalog import CatalogError
from reelcore.storage.store import StoreError

log = logging.getLogger(__name__)
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status, headers=_HEADERS)


def export_route(work: Callable[..., Awaitable[Any]]) -> Route:
    """The route; `work(fn)` runs `fn(search_service)` in a worker thread (web.py's `work`)."""

    async def export(request: Request) -> Response:
        q = request.query_params
        specs = q.getlist("moment")
        if len(specs) > MAX_EXPORT_MOMENTS:
            return _error(400, f"at most {MAX_EXPORT_MOMENTS} moments per export (got {len(specs)})")

        def run(svc: SearchService) -> ExportFile:
            try:
                limit = int(q.get("limit") or 12)
            except ValueError:
                raise QueryError("limit must be an integer") from None
            selection = [parse_moment(s) for s in specs] if specs else None
            return export_answer(svc, q.get("format") or "edl", query=q.get("q") or None,
                                 concepts=[c for c in q.getlist("concept") if c.strip()],
                                 video=q.get("video") or None, selection=selection, limit=limit,
                                 path_glob=q.get("path") or None, label=q.get("label") or None)

        try:
            made: ExportFile = await work(run)
        except QueryError as e:
            return _error(400, str(e))
        except (ServiceUnavailable, StoreError, ModelLoadError, CatalogError) as e:
            return _error(503, f"the index is not available: {e}")
        except Exception as e:
            log.exception("export failed")
            return _error(500, f"internal error ({type(e).__name__}); the reelfind log has the details")
        ascii_name = made.filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(made.filename)}"
        return Response(made.text.encode("utf-8"), media_type=f"{made.format.mime}; charset=utf-8",
                        headers={**_HEADERS, "Content-Disposition": disposition,
                                 "X-Reelfind-Moments": str(made.moments),
                                 "X-Reelfind-Message": quote(made.message[:500])})

    return Route("/api/export", export, methods=["GET"])
