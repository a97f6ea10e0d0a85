"""How soon the stall guard gives up on a wedged decode or a hung probe (timings kept out of tests).

    python bench/stall_guard.py [--limit 1.0] [--repeat 3]

Real footage and the real indexer with the tiny model. "decode": the decode blocks (as a hung FFmpeg
read would) after its second sampled frame; "probe": av.open of the file never returns. Each row is
the time from the block to the file's `failed` outcome, best and worst of --repeat, and its ratio to
`sampling.decode_stall_seconds` (1.0 would be exact; the guard polls every 0.2 s and joins 0.5 s).
Results: a table on stdout and bench/results/stall_guard.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import reelcore.channels.visual.indexer as indexer_mod  # noqa: E402
import reelcore.media.decode as decode_mod  # noqa: E402
from reelcore.config import load_settings  # noqa: E402
from reelcore.ingest.discovery import Root  # noqa: E402
from reelcore.runtime import Runtime  # noqa: E402

CLIP = ROOT.parent / "shared" / "footage" / "car-detection.mp4"
TINY = {"name": "reelfind-tiny", "pretrained": "none", "batch_size": 4,
        "config_path": str(ROOT / "tests" / "assets" / "reelfind-tiny.json")}


def once(kind: str, limit: float) -> float:
    """Seconds from the block to the failed outcome."""
    work = Path(tempfile.mkdtemp(prefix="reelfind-stall-"))
    (work / "root").mkdir()
    shutil.copy(CLIP, work / "root" / "wedge.mp4")
    release, blocked = threading.Event(), []
    real_sample, real_open = indexer_mod.sample_frames, decode_mod.av.open

    def sample_frames(path, *args, **kwargs):
        for n, frame in enumerate(real_sample(path, *args, **kwargs)):
            if n == 2:
                blocked.append(time.monotonic())
                release.wait(120)
            yield frame

    def av_open(path, *args, **kwargs):
        blocked.append(time.monotonic())
        release.wait(120)
        return real_open(path, *args, **kwargs)

    patch = (mock.patch.object(indexer_mod, "sample_frames", sample_frames) if kind == "decode"
             else mock.patch.object(decode_mod.av, "open", av_open))
    settings = load_settings(None, data_dir=work / "data", model=TINY, sampling={"decode_stall_seconds": limit})
    rt = Runtime.open(settings, "bench")
    try:
        [todo] = rt.reconciler().reconcile(Root(work / "root")).todo
        rt.embedder.load()
        with patch:
            out = rt.indexer().index(todo)
            took = time.monotonic() - blocked[0]
        assert out.state == "failed" and "stalled" in (out.reason or ""), out
        return took
    finally:
        release.set()
        time.sleep(0.5)  # let the released thread see the halt before the store closes
        rt.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    results = {}
    print(f"{'block in':10} {'limit s':>8} {'best s':>7} {'worst s':>8} {'worst/limit':>12}")
    for kind in ("decode", "probe"):
        times = [once(kind, a.limit) for _ in range(a.repeat)]
        results[kind] = {"limit": a.limit, "seconds": [round(t, 3) for t in times]}
        print(f"{kind:10} {a.limit:8.1f} {min(times):7.2f} {max(times):8.2f} {max(times) / a.limit:12.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "stall_guard.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
