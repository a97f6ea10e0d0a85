"""`reelfind` with timestamps of its milestones, for bench/whole_command.py.

    REELFIND_BENCH_TRACE=FILE python bench/traced_index.py index VIDEO --json

Runs the CLI's own console entry (`reelfind.cli.main`, fast exit included) after wrapping three
methods to append `<event> <unix time>` lines to FILE (os.write: nothing buffered is lost when the
process leaves with os._exit): `main` (the interpreter is up), `first_frame` (the first thumbnail
is written, right after the first sampled frame is decoded), `model_start` / `model_loaded`, and
`commit` after every Chroma upsert (the last one is the last commit). The caller adds process start
and exit. Importing reelcore.storage.store/embedder here first changes nothing: the index path imports
them before it reconciles anyway.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_FD = os.open(os.environ["REELFIND_BENCH_TRACE"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def mark(event: str) -> None:
    os.write(_FD, f"{event} {time.time():.6f}\n".encode())


def install() -> None:
    from reelcore.channels.visual.embedder import Embedder
    from reelcore.storage.store import FrameStore, Thumbnails

    save, upsert, load = Thumbnails.save, FrameStore.upsert, Embedder._load_locked
    first = [True]

    def traced_save(self, *a, **k):
        if first[0]:
            first[0] = False
            mark("first_frame")
        return save(self, *a, **k)

    def traced_upsert(self, *a, **k):
        out = upsert(self, *a, **k)
        mark("commit")
        return out

    def traced_load(self, *a, **k):
        mark("model_start")
        out = load(self, *a, **k)
        mark("model_loaded")
        return out

    Thumbnails.save = traced_save  # type: ignore[method-assign]
    FrameStore.upsert = traced_upsert  # type: ignore[method-assign]
    Embedder._load_locked = traced_load  # type: ignore[method-assign]


if __name__ == "__main__":
    mark("main")
    install()
    from reelfind.cli import main

    sys.argv[0] = "reelfind"
    main()
