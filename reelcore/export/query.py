"""Answer a question and export its moments in one call: what the CLI, the MCP tool
`export_moments` and the viewer's download route share.

Which question is asked follows from what is given: `selection` (hand-picked moments), `video`
with `query` (that video's timeline peaks), `concepts` (a scene query, all of them at once), or
`query` alone (a search). Bad input raises `reelcore.inputs.QueryError` (its subclasses too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reelcore.inputs import QueryError, resolve_video
from reelcore.storage.catalog import Catalog, FileRecord

from . import ExportFile, export_moments
from .formats import Format
from .moments import from_selection, moments_of

if TYPE_CHECKING:
    from reelcore.query.search import SearchService


def catalog_lookup(catalog: Catalog) -> Callable[[str], FileRecord | None]:
    """A selection's video (video_id, catalogued path or unique file name) -> its indexed record."""

    def lookup(video: str) -> FileRecord | None:
        try:
            return resolve_video(catalog, video)
        except QueryError:
            return None

    return lookup


def export_selection(selection: Sequence[Mapping[str, Any]], lookup: Callable[[str], FileRecord | None],
                     fmt: Format | str, label: str | None = None) -> ExportFile:
    """Hand-picked moments, each {video_id, start, end[, label]}."""
    title = (label or "selection").strip()[:200] or "selection"
    return export_moments(from_selection(selection, lookup, title), fmt, title, empty_reason="nothing was selected")


def export_answer(svc: SearchService, fmt: Format | str, *, query: str | None = None,
                  concepts: Sequence[str] | None = None, video: str | None = None,
                  selection: Sequence[Mapping[str, Any]] | None = None, limit: int = 10,
                  path_glob: str | None = None, threshold_z: float = 2.5, peaks: int = 5,
                  label: str | None = None) -> ExportFile:
    """Run the question on `svc` and export its moments (see the module docstring)."""
    concepts = [c for c in (concepts or []) if c and c.strip()]
    if selection is not None:
        return export_selection(selection, catalog_lookup(svc.catalog), fmt, label or query)
    if video:
        if not query:
            raise QueryError("with video, also give query (what to look for in it)")
        result: Any = svc.timeline(video, query, 300, peaks)[0]
    elif concepts:
        result = svc.scenes(([query] if query else []) + concepts, limit, path_glob, threshold_z, 0.0)
    elif query:
        result = svc.search(query, limit=limit, path_glob=path_glob)
    else:
        raise QueryError("give a query, all_of concepts, a video with a query, or moments to export")
    moments, title, why = moments_of(result)
    return export_moments(moments, fmt, label or title, empty_reason=why)
