"""`reelfind export` and `reelfind search --export`: answer the question, write the file.

A running service answers the question (its tools over HTTP, like `reelfind search`); otherwise
this process opens the index for the one query. The files' timecodes are read here either way
(the CLI runs where the footage is). A selection (`--moment VIDEO@START-END`) is looked up in
the catalogue only (SQLite; safe beside a running service).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reelcore.config import Settings
from reelcore.export import ExportFile, Format, save
from reelcore.export.moments import parse_moment
from reelcore.inputs import QueryError


def export_selection_cli(settings: Settings, specs: list[str], fmt: Format, label: str | None) -> ExportFile:
    from reelcore.export.query import catalog_lookup, export_selection
    from reelcore.storage.catalog import Catalog

    items = [parse_moment(s, "--moment") for s in specs]
    catalog = Catalog(settings.catalog_path)
    try:
        return export_selection(items, catalog_lookup(catalog), fmt, label)
    finally:
        catalog.close()


def remote_result(url: str, settings: Settings, *, query: str | None, concepts: list[str], video: str | None,
                  limit: int, path_glob: str | None, threshold_z: float, peaks: int) -> Any:
    """The question answered by the running service, as the read side's model."""
    from mcp_server.remote import call_tool
    from reelcore.models import ScenesOut, SearchOut, TimelineOut

    if video:
        if not query:
            raise QueryError("with --video, also give --query (what to look for in it)")
        return TimelineOut.model_validate(call_tool(url, settings, "score_timeline", {
            "video": video, "query": query, "peaks": peaks, "thumbnails": 0}))
    glob = {"path_glob": path_glob} if path_glob else {}
    if concepts:
        return ScenesOut.model_validate(call_tool(url, settings, "find_scenes", {
            "all_of": ([query] if query else []) + concepts, "limit": limit, "threshold_z": threshold_z,
            "thumbnails": 0, **glob}))
    if query:
        return SearchOut.model_validate(call_tool(url, settings, "search_footage", {
            "query": query, "limit": limit, "thumbnails": 0, **glob}))
    raise QueryError("give --query, --all-of, --video with --query, or --moment")


def export_result(result: Any, fmt: Format, label: str | None) -> ExportFile:
    from reelcore.export import export_moments
    from reelcore.export.moments import moments_of

    moments, title, why = moments_of(result)
    return export_moments(moments, fmt, label or title, empty_reason=why)


def write(export: ExportFile, dest: Path) -> None:
    save(export, dest)
