"""What the text channel adds to indexing time on ../shared/footage, measured on the real passes.

For each clip of the shared footage: the visual pass as `reelfind index` runs it (reelcore.channels.visual.indexer:
decode, ViT-B-32 embedding with random weights = same speed as trained ones, thumbnails, store
writes; the model is loaded once before timing), then the text pass of each gate variant asked for
(TextChannel.analyse + the store commit, real OCR weights), variants in turn order rotated per clip
so load from other jobs falls on all alike. Prints per variant: text seconds, reads, and
text / visual (the budget is 0.30: at most +30% indexing time).

    .venv/bin/python bench/text_cost.py [--variant min_gap=3] [--variant max_gap=20,min_gap=3] ...

The default variant (today's settings) always runs. Quality of a variant: bench/text_quality.py
with the same --min-gap / --max-gap / --check-interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reelcore.channels.text.channel import TextChannel, TextSettings  # noqa: E402
from reelcore.channels.text.gate import GateSettings  # noqa: E402
from reelcore.config import load_settings  # noqa: E402
from reelcore.ingest.discovery import Root  # noqa: E402
from reelcore.runtime import Runtime  # noqa: E402
from tests.textvideo import FOOTAGE  # noqa: E402


def variant(spec: str) -> tuple[str, TextSettings]:
    gate = GateSettings()
    for part in filter(None, spec.split(",")):
        k, v = part.split("=")
        gate = replace(gate, **{k: type(getattr(gate, k))(v)})
    return spec or "default", TextSettings(gate=gate)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", default=[])
    a = ap.parse_args()
    variants = [variant(""), *(variant(v) for v in a.variant)]
    data = Path(tempfile.mkdtemp(prefix="text-cost-"))
    s = load_settings(None, data_dir=data, model={"name": "ViT-B-32", "pretrained": "none"},
                      channels={"speech": {"enabled": False}, "text": {"enabled": False},
                                "people": {"enabled": False}})
    rt = Runtime.open(s, "bench")
    chans = [(name, TextChannel(ts, prefix=s.store.collection_prefix)) for name, ts in variants]
    for _, ch in chans:
        ch.engine.load()
    try:
        todo = rt.reconciler().reconcile(Root(FOOTAGE)).todo
        rt.embedder.load()  # not timed: loaded once per process
        visual = 0.0
        text = {name: 0.0 for name, _ in variants}
        reads = {name: 0 for name, _ in variants}
        print(f"load average at start: {os.getloadavg()[0]:.2f}; {len(todo)} files")
        for k, rec in enumerate(todo):
            t = time.perf_counter()
            out = rt.indexer().index(rec)
            visual += time.perf_counter() - t
            if out.state != "indexed":
                print(f"  {Path(rec.path).name}: visual {out.state} ({out.reason}): skipped")
                continue
            rec = rt.catalog.get(rec.path)
            for name, ch in chans[k % len(chans):] + chans[:k % len(chans)]:
                t = time.perf_counter()
                an = ch.analyse(rec.path, threading.Event())
                ch.sink(rt.store).commit(rec.video_id, rec.path, an, [])
                text[name] += time.perf_counter() - t
                reads[name] += an.frames_read
                if an.records:
                    print(f"  {Path(rec.path).name} [{name}]: {[r.text for r in an.records]}")
        print(f"visual pass (indexer, ViT-B-32): {visual:.1f} s")
        for name, _ in variants:
            print(f"text [{name}]: {text[name]:.1f} s, {reads[name]} reads: text/visual = {text[name] / visual:.2f}")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        rt.close()


if __name__ == "__main__":
    main()
