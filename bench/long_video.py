"""A 24-hour video at 1 fps (86,400 frames of 512-d vectors): whole load vs windowed reads.

    python bench/long_video.py [--frames 86400] [--dim 512] [--scratch /tmp/reelfind-bench]

Builds (once, reused) an embedded Chroma collection holding one video of --frames synthetic unit
vectors, then, each in a fresh child process so peak RSS is the request's own:

* before: `store.video_frames(video_id, with_vectors=True)` (what every timeline / scene / frame
  call of that video did, reloaded each time because it exceeds the frame cache) + scoring
* after, timeline: `frames.frame_scores` (window by window, only scores kept)
* after, frame lookup: `frames.frames_near` at t = 12 h (one small window)

Prints wall ms, peak RSS and the largest number of frames one store read returned.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VIDEO = "00000000000long1"


def _settings(scratch: Path, frames: int, dim: int):
    from reelcore.config import load_settings

    return load_settings(None, data_dir=scratch / f"long-{frames}-{dim}",
                         model={"name": "reelfind-tiny", "pretrained": "none",
                                "config_path": str(ROOT / "tests" / "assets" / "reelfind-tiny.json")})


def build(scratch: Path, frames: int, dim: int) -> None:
    import numpy as np

    from reelcore.storage.store import FrameRecord, FrameStore, frame_id

    settings = _settings(scratch, frames, dim)
    store = FrameStore(settings, f"bench-long-{dim}")
    have = store.count()
    if have >= frames:
        store.close()
        return
    for lo in range(have - have % 5000, frames, 5000):  # resumes an interrupted build
        n = min(5000, frames - lo)
        v = np.random.default_rng(lo).normal(size=(n, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        recs = [FrameRecord(frame_id(VIDEO, float(i)), VIDEO, "/footage/day.mp4", float(i), float(i + 1), i // 600)
                for i in range(lo, lo + n)]
        store.upsert(recs, v)
    store.close()


def child(scratch: Path, frames: int, dim: int, mode: str) -> dict:
    import numpy as np

    from reelcore.query import frames as frames_mod
    from reelcore.storage.catalog import FileRecord
    from reelcore.storage.store import FrameStore

    settings = _settings(scratch, frames, dim)
    store = FrameStore(settings, f"bench-long-{dim}")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reads: list[int] = []
    real = store.frames_between

    def counted(*a, **kw):
        out = real(*a, **kw)
        reads.append(len(out[0]))
        return out

    store.frames_between = counted  # type: ignore[method-assign]

    class Svc:  # the two attributes frames.py uses
        pass

    svc = Svc()
    svc.store, svc.settings = store, settings
    rec = FileRecord(1, "/footage/day.mp4", "/footage", 0, 0.0, "", VIDEO, None, "indexed", None, None, frames,
                     None, float(frames), None, 0, 0, None, 0.0)
    q = np.random.default_rng(1).normal(size=(1, dim)).astype(np.float32)
    def request() -> int:
        if mode == "before":
            recs, vecs = store.video_frames(VIDEO, with_vectors=True)
            reads.append(len(recs))
            return len(vecs @ q.T)
        if mode == "timeline":
            return len(frames_mod.frame_scores(svc, rec, q)[0])  # type: ignore[arg-type]
        return len(frames_mod.frames_near(svc, rec, frames / 2, with_vectors=True)[0])  # type: ignore[arg-type]

    times, n, error = [], 0, None
    for _ in range(2):  # the first call also loads the collection from disk; the second is the request
        t = time.perf_counter()
        try:
            n = request()
        except Exception as e:  # the old whole-video read fails outright on a long enough video
            error = f"{type(e).__name__}: {str(e)[-80:]}"
            break
        times.append(round((time.perf_counter() - t) * 1000, 1))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store.close()
    return {"mode": mode, "cold_ms": times[0] if times else None, "warm_ms": times[1] if len(times) > 1 else None,
            "frames": n, "max_read": max(reads) if reads else 0, "peak_rss_mb": round(rss / 1024),
            "rss_growth_mb": round((rss - rss0) / 1024), "error": error}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=86_400)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/reelfind-bench"))
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.scratch, a.frames, a.dim, a.child)))
        return
    t = time.perf_counter()
    build(a.scratch, a.frames, a.dim)
    print(f"collection: {a.frames} frames x {a.dim}-d ready ({time.perf_counter() - t:.0f} s)")
    rows = []
    for mode in ("before", "timeline", "frame@12h"):
        out = subprocess.run([sys.executable, __file__, "--frames", str(a.frames), "--dim", str(a.dim),
                              "--scratch", str(a.scratch), "--child", mode], capture_output=True, text=True,
                             check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{'request':10} {'cold ms':>9} {'warm ms':>9} {'frames':>7} {'max frames/read':>16} {'peak RSS MB':>12} "
          f"{'RSS growth MB':>14}  error")
    for r in rows:
        print(f"{r['mode']:10} {r['cold_ms']!s:>9} {r['warm_ms']!s:>9} {r['frames']:7d} {r['max_read']:16d} "
              f"{r['peak_rss_mb']:12d} {r['rss_growth_mb']:14d}  {r['error'] or ''}")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "long_video.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
