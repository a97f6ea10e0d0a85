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

    .venv/bin/python bench/text_cost.py --tap

pairs, per clip in turn order rotated, two data dirs: the visual pass without taps and with the text
channel's tap (reelcore/channels/taps.py), then the text pass from its own decode and from the tap.
Prints both visual times, the tap's own time on the decode thread, both text times, and the added
cost of each design over the visual pass without taps (tapped: its text pass + what the tap added).
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

from reelcore.channels.text.channel import TextChannel, TextSettings, settings_from  # noqa: E402
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
    ap.add_argument("--tap", action="store_true", help="own decode vs the visual pass's tap (default gate)")
    a = ap.parse_args()
    if a.tap:
        return tap_pair()
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


def tap_pair() -> None:
    """Own decode vs tap, in the same run (see the module doc)."""
    rts: dict[str, Runtime] = {}
    for mode in ("own", "tap"):
        data = Path(tempfile.mkdtemp(prefix=f"text-cost-{mode}-"))
        s = load_settings(None, data_dir=data, model={"name": "ViT-B-32", "pretrained": "none"},
                          channels={"speech": {"enabled": False}, "text": {"enabled": mode == "tap"},
                                    "people": {"enabled": False}})
        rts[mode] = Runtime.open(s, "bench")
    assert rts["own"].taps is None and rts["tap"].taps is not None
    s = rts["tap"].settings
    ch = TextChannel(settings_from(s.channels.text), prefix=s.store.collection_prefix)
    ch.engine.load()
    try:
        todo = {m: {r.path: r for r in rt.reconciler().reconcile(Root(FOOTAGE)).todo} for m, rt in rts.items()}
        for rt in rts.values():
            rt.embedder.load()
        visual = {"own": 0.0, "tap": 0.0}
        text = {"own": 0.0, "tap": 0.0}
        tap_s, tapped_files, spool = 0.0, 0, 0
        print(f"load average at start: {os.getloadavg()[0]:.2f}; {len(todo['own'])} files")
        for k, path in enumerate(sorted(todo["own"])):
            order = ["own", "tap"] if k % 2 == 0 else ["tap", "own"]
            recs = {}
            for m in order:
                t = time.perf_counter()
                out = rts[m].indexer().index(todo[m][path])
                visual[m] += time.perf_counter() - t
                recs[m] = rts[m].catalog.get(path) if out.state == "indexed" else None
            if recs["own"] is None or recs["tap"] is None:
                print(f"  {Path(path).name}: visual not indexed: skipped")
                continue
            lines = {}
            for m in order:
                rec, rt = recs[m], rts[m]
                t = time.perf_counter()
                tap = rt.taps.take("text", rec.video_id, ch.identity) if rt.taps is not None else None
                if tap is not None:
                    an = ch.analyse_tapped(tap.result(), rec.path, threading.Event())
                    tap_s, spool = tap_s + tap.seconds, max(spool, tap.nbytes)
                    tapped_files += an.tapped
                    tap.discard()
                else:
                    an = ch.analyse(rec.path, threading.Event())
                ch.sink(rt.store).commit(rec.video_id, rec.path, an, [])
                text[m] += time.perf_counter() - t
                lines[m] = [(r.text, r.t_start, r.t_end) for r in an.records]
            same = "same records" if lines["own"] == lines["tap"] else f"DIFFERENT: {lines}"
            print(f"  {Path(path).name}: {len(lines['own'])} records, {same}")
        v = visual["own"]
        print(f"visual pass without taps: {v:.1f} s; with the text tap: {visual['tap']:.1f} s "
              f"({(visual['tap'] / v - 1) * 100:+.1f}%); time in the tap (decode thread): {tap_s:.2f} s "
              f"({tap_s / v * 100:.1f}% of the visual pass); largest spool {spool / 1e6:.1f} MB; "
              f"{tapped_files} files read from the tap")
        print(f"text, own decode: {text['own']:.1f} s: text/visual = {text['own'] / v:.2f}")
        print(f"text, from the tap: {text['tap']:.1f} s: text/visual = {text['tap'] / v:.2f}; "
              f"with the tap's time: {(text['tap'] + tap_s) / v:.2f}; "
              f"with the measured visual growth: {(text['tap'] + visual['tap'] - v) / v:.2f}")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        for rt in rts.values():
            rt.close()


if __name__ == "__main__":
    main()
