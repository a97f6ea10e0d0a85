"""Small store helpers for tests (not part of the product API)."""

from __future__ import annotations

from reelcore.store import FrameStore


def stored_ids(store: FrameStore, page: int = 5000) -> set[str]:
    """Every frame id in the store's collection, read in pages."""
    out: set[str] = set()
    offset = 0
    while True:
        got = store._collection.get(include=[], limit=page, offset=offset)
        out.update(got["ids"])
        if len(got["ids"]) < page:
            return out
        offset += page
