"""Small store helpers for tests (not part of the product API)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reelcore.storage.store import FrameStore


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


@contextlib.contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """A real `chroma run` server on a free loopback port for the block; yields its URL (skips the
    test when the chroma CLI is not installed)."""
    import pytest

    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the chroma CLI is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "chroma run did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
