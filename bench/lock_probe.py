"""Spurious data-dir lock refusals beside a probing thread: before (flock probe) vs after (OFD query).

    python bench/lock_probe.py [--acquires 3000]

A thread calls `is_locked()` in a loop (what the stdio bridge does per request and `reelfind
status` per call) while the main thread runs --acquires acquire/release cycles on a free index.
Every StoreLocked is a spurious refusal. "before" re-runs the replaced code (the probe took a shared
flock for a moment, the owner an exclusive one); "after" is reelcore.lock.
Results: a table on stdout and bench/results/lock_probe.json.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reelcore.lock import DataDirLock, StoreLocked, is_locked  # noqa: E402


def _old_is_locked(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _old_cycle(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        os.ftruncate(fd, 0)
        os.write(fd, b'{"pid": 1, "command": "index"}')
        os.fsync(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _new_cycle(path: Path) -> bool:
    lock = DataDirLock(path)
    try:
        lock.acquire("index")
    except StoreLocked:
        return False
    lock.release()
    return True


def run(cycle: Callable[[Path], bool], probe: Callable[[Path], bool], n: int) -> dict[str, float]:
    path = Path(tempfile.mkdtemp(prefix="reelfind-lock-")) / "reelfind.lock"
    path.write_text("{}")
    stop = threading.Event()
    probes = 0

    def loop() -> None:
        nonlocal probes
        while not stop.is_set():
            probe(path)
            probes += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    refused = sum(not cycle(path) for _ in range(n))
    elapsed = time.perf_counter() - t0
    stop.set()
    thread.join()
    return {"acquires": n, "refused": refused, "probes": probes, "seconds": round(elapsed, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--acquires", type=int, default=3000)
    args = ap.parse_args()
    results = {"before": run(_old_cycle, _old_is_locked, args.acquires),
               "after": run(_new_cycle, is_locked, args.acquires)}
    print(f"{'':8} {'acquires':>9} {'refused':>8} {'probes':>8} {'s':>6}")
    for name, r in results.items():
        print(f"{name:8} {r['acquires']:>9} {r['refused']:>8} {r['probes']:>8} {r['seconds']:>6}")
    out = ROOT / "bench" / "results" / "lock_probe.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
