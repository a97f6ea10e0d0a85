"""Text channel quality and cost with the real OCR weights (RapidOCR PP-OCRv4).

Quality: renders tests/textvideo.quality_clip() (1080p, 25 fps, H.264 6 Mb/s: every text size on
dark, light and busy pictures in several fonts, a slate, a lower third, a moving title), runs the
text channel and scores per size: word recall (a shown word is found by a phrase search of that
word in a record overlapping the card), word precision (a read word is a word shown at that
time, compared the way search compares), and start-time error (first record holding at least
half the card's words; "ok" within 1 s).

Cost: the text channel's wall time on the good clips of ../shared/footage against the visual
channel's decode (reelcore.media.decode.sample_frames, default settings) plus embedding of the frames
it samples (ViT-B-32, random weights: same speed as trained ones), same run, same box.

    .venv/bin/python bench/text_quality.py [--clip /tmp/text_quality.mp4] [--no-cost] [--no-quality]
        [--det-side 960] [--no-presence] [--min-gap 2] [--max-gap 10] [--edge-density 0.1]   (quality only; cost of gate
        variants on the real passes: bench/text_cost.py)
        [--tap]   (quality of the text pass read from the visual pass's decode: the tap, as `reelfind index` does)
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reelcore.channels.text.channel import TextChannel, TextSettings  # noqa: E402
from reelcore.channels.text.gate import GateSettings  # noqa: E402
from reelcore.channels.text.match import match_text  # noqa: E402
from tests.textvideo import FOOTAGE, Card, quality_clip, render  # noqa: E402


def _overlaps(r, a: float, b: float) -> bool:
    return r.t_start < b and r.t_end > a


def _found(word: str, text: str) -> bool:
    m = match_text(word, text)
    return m is not None and m.phrase


def _tapped(ch: TextChannel, path: Path):
    """The text pass as `reelfind index` runs it with the tap: the visual pass's decode
    (reelcore.media.decode.sample_frames, default sampling and decode mode) feeds the text tap, then the
    pass reads the tap (reelcore/channels/text/tap.py)."""
    import tempfile

    from reelcore.config import SamplingSettings
    from reelcore.media.decode import resolve_mode, sample_frames

    sampling = SamplingSettings()
    mode = resolve_mode(path, sampling.model_copy(update={"detect_cuts": False}), "auto")
    with tempfile.TemporaryDirectory() as spool:
        tap = ch.tap(Path(spool))
        for _ in sample_frames(path, sampling, mode=mode, on_frame=tap.offer):
            pass
        tapped = tap.result()
        assert tapped is not None, "the tap gave up"
        try:
            return ch.analyse_tapped(tapped, str(path), threading.Event())
        finally:
            tap.discard()


def quality(clip_path: Path, settings: TextSettings, tap: bool = False) -> None:
    clip = quality_clip()
    if not clip_path.exists():
        t = time.perf_counter()
        render(clip, clip_path)
        print(f"rendered {clip_path} ({clip.duration:.1f} s) in {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    ch = TextChannel(settings)
    an = _tapped(ch, clip_path) if tap else ch.analyse(str(clip_path), threading.Event())
    assert an.tapped == tap
    wall = time.perf_counter() - t
    print(f"analysed in {wall:.1f} s: {an.frames_checked} pictures checked, {an.frames_read} read, "
          f"OCR {an.ocr_seconds:.1f} s, {len(an.records)} records")
    groups: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in clip.cards:
        g = groups[f"{c.size}px" if c.kind == "plain" else c.kind]
        recs = [r for r in an.records if _overlaps(r, c.start, c.end)]
        for w in c.words:
            if any(ch.isalnum() for ch in w):
                g["shown"] += 1
                g["recalled"] += any(_found(w, r.text) for r in recs)
        starts = [r.t_start for r in recs if sum(_found(w, r.text) for w in c.words) * 2 >= len(c.words)]
        g["cards"] += 1
        if starts:
            err = abs(min(starts) - c.start)
            g["start_ok"] += err <= 1.0
            g["start_err_max"] = max(g["start_err_max"], err)
            ends = [r.t_end for r in recs if sum(_found(w, r.text) for w in c.words) * 2 >= len(c.words)]
            g["end_ok"] += abs(max(ends) - c.end) <= 1.0
    for r in an.records:
        shown = [c for c in clip.cards if _overlaps(r, c.start, c.end)]
        truth = " ".join(" ".join(c.lines) for c in shown)
        g = groups[_group(shown)]
        for m in __import__("re").finditer(r"\w+", r.text):
            g["read"] += 1
            g["correct"] += bool(truth) and match_text(m.group(), truth) is not None
    print(f"{'size':>14} {'recall':>7} {'precision':>9} {'start<=1s':>9} {'max err':>7} {'end<=1s':>7}")
    big = defaultdict(float)
    for name in sorted(groups, key=_order):
        g = groups[name]
        rec = g["recalled"] / g["shown"] if g["shown"] else float("nan")
        prec = g["correct"] / g["read"] if g["read"] else float("nan")
        print(f"{name:>14} {rec:7.3f} {prec:9.3f} {int(g['start_ok']):>4}/{int(g['cards']):<4} "
              f"{g['start_err_max']:7.2f} {int(g['end_ok']):>3}/{int(g['cards']):<3}")
        if not name.endswith("px") or int(name[:-2]) >= 24:
            for k in ("shown", "recalled", "read", "correct"):
                big[k] += g[k]
    print(f"{'>=24px + specials':>14} recall {big['recalled'] / big['shown']:.3f}  "
          f"precision {big['correct'] / max(big['read'], 1):.3f}")
    for r in an.records:
        print(f"  {r.t_start:7.2f}-{r.t_end:7.2f} {r.confidence:.2f} {r.text}")


def _group(cards: list[Card]) -> str:
    if not cards:
        return "no text shown"
    c = cards[0]
    return f"{c.size}px" if c.kind == "plain" else c.kind


def _order(name: str) -> tuple[int, str]:
    return (int(name[:-2]), "") if name.endswith("px") else (10_000, name)


def cost() -> None:
    import open_clip
    import torch

    from reelcore.config import SamplingSettings
    from reelcore.media.decode import DecodeReport, sample_frames

    exts = (".mp4", ".mkv", ".mov", ".webm", ".avi")
    files = sorted(p for p in FOOTAGE.iterdir() if p.is_file() and p.suffix in exts)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    ch = TextChannel()
    ch.engine.load()
    dec = emb = ocr = text = 0.0
    cpu_visual = cpu_text = 0.0
    frames = read = 0
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for p in files:
        t, c = time.perf_counter(), time.process_time()
        images = [f.image for f in sample_frames(p, SamplingSettings(), DecodeReport(), mode="auto")]
        dec += time.perf_counter() - t
        t = time.perf_counter()
        with torch.inference_mode():
            for k in range(0, len(images), 16):
                model.encode_image(torch.stack([preprocess(im) for im in images[k:k + 16]]))
        emb += time.perf_counter() - t
        cpu_visual += time.process_time() - c
        frames += len(images)
        t, c = time.perf_counter(), time.process_time()
        an = ch.analyse(str(p), threading.Event())
        text += time.perf_counter() - t
        cpu_text += time.process_time() - c
        ocr += an.ocr_seconds
        read += an.frames_read
        print(f"  {p.name:42} visual {len(images):3} frames; text {an.frames_read:3} read of {an.frames_checked:4} "
              f"checked {an.reasons} {[r.text for r in an.records]}")
    visual = dec + emb
    print(f"visual: decode {dec:.1f} s + embed {frames} frames (ViT-B-32 fp32, batch 16) {emb:.1f} s = {visual:.1f} s")
    print(f"text:   {text:.1f} s = OCR {ocr:.1f} s on {read} frames + own decode and gate {text - ocr:.1f} s")
    print(f"text/visual = {text / visual:.2f} wall, {cpu_text / cpu_visual:.2f} CPU (all threads)   (OCR alone, as "
          f"with a decode shared with the visual pass: {ocr / visual:.2f} wall)")
    media = sum(_duration(p) for p in files)
    print(f"CPU: visual {cpu_visual:.1f} s, text {cpu_text:.1f} s for {media:.0f} s of footage; text against the "
          f"visual channel's whole e2e process CPU in bench/README.md (85 ms per video-second on this set, idle "
          f"box): {cpu_text / (0.085 * media):.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}; embed {1000 * emb / max(frames, 1):.0f} ms/frame, "
          f"OCR {1000 * ocr / max(read, 1):.0f} ms/read")


def _duration(p: Path) -> float:
    from reelcore.media.decode import probe

    return probe(p).duration or 0.0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", type=Path, default=Path("/tmp/text_quality.mp4"))
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--det-side", type=int, default=TextSettings().det_side)
    ap.add_argument("--no-presence", action="store_true", help="quality without the text-presence test")
    ap.add_argument("--min-gap", type=float, default=GateSettings().min_gap)
    ap.add_argument("--max-gap", type=float, default=GateSettings().max_gap)
    ap.add_argument("--edge-density", type=float, default=GateSettings().edge_density)
    ap.add_argument("--tap", action="store_true", help="quality read from the visual decode's tap (no own decode)")
    a = ap.parse_args()
    if not a.no_quality:
        gate = GateSettings(min_gap=a.min_gap, max_gap=a.max_gap, edge_density=a.edge_density)
        gate = replace(gate, edge_blocks=0) if a.no_presence else gate
        print(f"gate: {gate}")
        quality(a.clip, TextSettings(gate=gate, det_side=a.det_side), tap=a.tap)
    if not a.no_cost:
        cost()
