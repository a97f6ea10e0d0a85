"""Build (or resume building) the synthetic 1M-vector collection used by bench/query.py.

    python bench/build_1m.py [--n 1000000] [--dir /tmp/reelfind-bench/q1m]

The collection is created through reelcore.storage.store.FrameStore, so it has exactly the HNSW
configuration of daemon/config.py StoreSettings. Adds are sequential with deterministic ids, so an
interrupted build resumes from count(). Progress (vectors, seconds, rate) goes to stdout and to
<dir>/build.log; the final build time is written to <dir>/build.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic import SyntheticFrames  # noqa: E402

from reelcore.config import Settings  # noqa: E402
from reelcore.storage.store import FrameStore  # noqa: E402

IDENTITY = "ViT-B-32-random-224"  # same identity as the random-weight ViT-B-32 the CLI uses


def open_store(data_dir: Path) -> FrameStore:
    settings = Settings(data_dir=data_dir)
    return FrameStore(settings, IDENTITY)


def build(n: int, data_dir: Path, chunk: int = 5000) -> dict:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(data_dir)
    col = store._collection  # add() (not upsert) for the bulk load: ids are new and sequential
    have = col.count()
    state_file = data_dir / "build.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"seconds": 0.0, "cpu_seconds": 0.0}
    if have >= n:
        print(f"collection already holds {have} vectors (build took {state['seconds']:.0f} s)")
        return state
    syn = SyntheticFrames(n)
    t0, c0 = time.time(), os.times()
    base_s, base_c = state["seconds"], state["cpu_seconds"]
    i = have - have % chunk  # resume at a chunk boundary (add() of ids already there is a no-op)
    while i < n:
        j = min(n, i + chunk)
        vecs, metas = syn.chunk(i, j)
        col.add(ids=syn.ids(i, j), embeddings=vecs, metadatas=metas)
        i = j
        el = time.time() - t0
        c = os.times()
        state = {"n": i, "seconds": base_s + el, "cpu_seconds": base_c + c.user + c.system - c0.user - c0.system,
                 "m": store.settings.store.hnsw_m, "ef_construction": store.settings.store.hnsw_construction_ef}
        if i % 50000 == 0 or i == n:
            rate = (i - have) / max(el, 1e-9)
            line = f"{i} vectors  {state['seconds']:.0f} s  {rate:.0f} vec/s (this run)  load {os.getloadavg()[0]:.2f}"
            print(line, flush=True)
            with open(data_dir / "build.log", "a") as log:
                log.write(line + "\n")
            state_file.write_text(json.dumps(state))
    state_file.write_text(json.dumps(state))
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/reelfind-bench/q1m"))
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build(a.n, a.dir)


if __name__ == "__main__":
    main()
