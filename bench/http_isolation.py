"""Query latency beside media requests for a file on a hung share, and beside preview-clip
requests whose source hangs (issue 19, items 5 and 6).

The viewer's real routes over a real catalog and Chroma store, in Starlette's TestClient (its own
event-loop thread, as under uvicorn). "Hung share": stat/lstat/open of the media file wait
`--hang` seconds (a hard NFS mount whose server is slow). Prints the median and worst /api/status
latency alone and while `--media` such requests are in flight, and their ratio.

    python bench/http_isolation.py [--hang 3] [--media 3] [--samples 20]
    python bench/http_isolation.py --clips 6      # /api/links beside 6 clip requests (a 3 s hang each)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from daemon.web import viewer_routes  # noqa: E402
from reelcore.channels.visual.embedder import Embedder  # noqa: E402
from reelcore.query.search import SearchService  # noqa: E402
from reelcore.storage.catalog import Catalog  # noqa: E402
from reelcore.storage.store import FrameStore, Thumbnails  # noqa: E402
from tests.conftest import FOOTAGE, tiny_settings  # noqa: E402


def _latencies(client: TestClient, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert client.get("/api/status").status_code == 200
        out.append(time.perf_counter() - t0)
    return out


def _clips(client: TestClient, vid: str, a: argparse.Namespace) -> None:
    """/api/links (a query: holds a query slot) alone, then beside `a.clips` clip requests whose
    source read takes `a.hang` s (before: clips held the query slots while queued)."""
    import reelcore.clips as clips_mod

    real = clips_mod._transcode

    def slow(src: Any, *args: Any, **kw: Any) -> Any:
        time.sleep(a.hang)
        return real(src, *args, **kw)

    clips_mod._transcode = slow

    def links() -> float:
        t0 = time.perf_counter()
        assert client.get("/api/links", params={"video": vid, "start": 1}).status_code == 200
        return time.perf_counter() - t0

    alone = [links() for _ in range(a.samples)]
    threads = [threading.Thread(target=lambda t=t: client.get(f"/clip/{vid}?start={t}&end={t + 1}"), daemon=True)
               for t in range(a.clips)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    beside = [links() for _ in range(a.samples)]
    med_a, med_b = statistics.median(alone), statistics.median(beside)
    print(f"/api/links alone: median {med_a * 1000:.1f} ms, worst {max(alone) * 1000:.1f} ms")
    print(f"/api/links beside {a.clips} clip requests (source read {a.hang:g} s): median {med_b * 1000:.1f} ms, "
          f"worst {max(beside) * 1000:.1f} ms (x{med_b / med_a:.1f})", flush=True)
    os._exit(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hang", type=float, default=3.0, help="seconds each file-system call on the media file waits")
    ap.add_argument("--media", type=int, default=3, help="media requests in flight")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--clips", type=int, default=0, help="time /api/links beside this many clip requests instead")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reelfind-http-bench-"))
    settings = tiny_settings(tmp / "data")
    root = tmp / "root"
    root.mkdir()
    video = Path(shutil.copy(FOOTAGE / "car-detection.mp4", root / "car.mp4"))
    catalog = Catalog(settings.catalog_path)
    store = FrameStore(settings, "bench")
    svc = SearchService(settings, catalog, store, Embedder(settings.model), Thumbnails(settings.thumbs_dir))
    st = video.stat()
    vid = catalog.add(str(video), str(root), st.st_size, st.st_mtime, "fp").video_id
    catalog.update(str(video), state="indexed", frames=10, duration=30.0)

    for name in ("stat", "lstat", "open"):  # the hung share
        real = getattr(os, name)

        def slow(p: Any, *args: Any, _real: Any = real, **kw: Any) -> Any:
            if isinstance(p, str | os.PathLike) and os.fspath(p) == str(video):
                time.sleep(a.hang)
            return _real(p, *args, **kw)

        setattr(os, name, slow)

    app = Starlette(routes=viewer_routes(lambda: svc, settings, status_fn=lambda: {"state": "watching"}))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        if a.clips:
            _clips(client, vid, a)
        alone = _latencies(client, a.samples)
        stop = threading.Event()

        def media() -> None:
            while not stop.is_set():
                try:
                    client.get(f"/media/{vid}", headers={"Range": "bytes=0-1023"})
                except Exception:  # the client closing under a request still in a hung call
                    return

        threads = [threading.Thread(target=media, daemon=True) for _ in range(a.media)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        beside = _latencies(client, a.samples)
        stop.set()
        med_a, med_b = statistics.median(alone), statistics.median(beside)
        print(f"/api/status alone: median {med_a * 1000:.1f} ms, worst {max(alone) * 1000:.1f} ms")
        print(f"/api/status beside {a.media} hung media requests: median {med_b * 1000:.1f} ms, "
              f"worst {max(beside) * 1000:.1f} ms (x{med_b / med_a:.1f} the median alone; hang {a.hang:g} s)",
              flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(0)  # media threads may still sleep in the hung calls


if __name__ == "__main__":
    main()
