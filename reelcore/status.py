"""`reelfind status`: what the index holds and, when the service runs, what it is doing.

Reads the catalog (SQLite in WAL mode is safe to read beside a writer). It never opens an embedded
Chroma store that a running service owns (see DESIGN.md, process model): the frame count then
comes from the catalog, and live progress from the service's own status endpoint.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from .catalog import FAILED, INDEXED, Catalog
from .config import Settings


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def collect_status(settings: Settings, service: dict[str, Any] | None = None) -> dict[str, Any]:
    from .embedder import Embedder

    identity = Embedder(settings.model).identity
    catalog = Catalog(settings.catalog_path)
    try:
        counts = catalog.counts()
        failed = [{"path": r.path, "reason": r.error, "attempts": r.attempts} for r in catalog.all(FAILED)]
        warnings = [{"path": r.path, "note": r.note} for r in catalog.all(INDEXED) if r.note]
    finally:
        catalog.close()
    frames = counts.pop("frames")
    return {
        "model_identity": identity,
        "store": settings.store.url or str(settings.chroma_dir),
        "data_dir": str(settings.data_dir),
        "data_bytes": _dir_size(settings.data_dir) if settings.data_dir.exists() else 0,
        "vectors": frames,
        "counts": counts,
        "failed": failed,
        "warnings": warnings,
        "service": service,
    }
