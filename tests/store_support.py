"""Small store helpers for tests (not part of the product API)."""

from __future__ import annotations

from typing import Any

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


def count_window_reads(monkeypatch: Any, svc: Any, whole_message: str) -> list[int]:
    """Record how many frames each windowed store read returns; loading a video whole fails the test."""
    reads: list[int] = []
    real = svc.store.frames_between

    def frames_between(*a: Any, **kw: Any) -> Any:
        out = real(*a, **kw)
        reads.append(len(out[0]))
        return out

    def whole(*a: Any, **kw: Any) -> Any:
        raise AssertionError(whole_message)

    monkeypatch.setattr(svc.store, "frames_between", frames_between)
    monkeypatch.setattr(svc.store, "video_frames", whole)
    return reads
