"""The text pass reads what the visual pass's decode kept (channels/taps.py, text/tap.py) instead of
decoding the file again, with the same records as its own decode; whenever the tap is not whole
(a visual pass resumed from a cursor, changed settings, a tap over its bound) it decodes itself.
Real parts: a rendered H.264 clip, the real indexer (tiny CLIP model), real OCR weights, Chroma."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from reelcore.channels.passes import ChannelPasses
from reelcore.channels.text.channel import TextChannel, settings_from
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from tests.conftest import tiny_settings
from tests.textvideo import render, slate_and_lower_third

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)


class Spy(TextChannel):
    """The registry's text channel, counting its own decodes and keeping the last analysis."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.decodes = 0
        self.last = None

    def analyse(self, *a, **k):
        self.decodes += 1
        self.last = super().analyse(*a, **k)
        return self.last

    def analyse_tapped(self, *a, **k):
        out = super().analyse_tapped(*a, **k)
        self.last = out
        return out


def _lines(an) -> list[tuple]:
    return [(r.text, r.t_start, r.t_end, tuple(round(b, 3) for b in r.box)) for r in an.records]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tapclip")
    render(slate_and_lower_third(), folder / "slate.mp4")
    return folder


@pytest.fixture(scope="module")
def own(clip):
    """The records of the channel's own decode of the clip."""
    s = tiny_settings(clip.parent / "own-settings", channels={"text": {"enabled": True}})
    an = TextChannel(settings_from(s.channels.text)).analyse(str(clip / "slate.mp4"), threading.Event())
    assert an.records and not an.tapped
    return _lines(an)


def _index_then_text(clip, data, cursor_ms=None, gate_change=False, max_bytes=None):
    """Visual pass (optionally resumed from `cursor_ms`), then the text pass through ChannelPasses."""
    s = tiny_settings(data, channels={"text": {"enabled": True}})
    rt = Runtime.open(s, "test")
    try:
        assert rt.taps is not None
        if max_bytes is not None:
            rt.taps._channels = lambda: [_Bounded(settings_from(s.channels.text), max_bytes)]
        rec = rt.reconciler().reconcile(Root(clip)).todo[0]
        if cursor_ms is not None:
            rec = dataclasses.replace(rec, cursor_ms=cursor_ms)
        assert rt.indexer().index(rec).state == "indexed"
        ts = settings_from(s.channels.text)
        if gate_change:
            ts = dataclasses.replace(ts, gate=dataclasses.replace(ts.gate, max_gap=ts.gate.max_gap + 1))
        spy = Spy(ts, prefix=s.store.collection_prefix)
        passes = ChannelPasses(s, rt.catalog, rt.store, channels=[spy], taps=rt.taps)
        out = passes.run(spy, rt.catalog.get(rec.path), threading.Event())
        assert out.state == "indexed" and out.records == len(spy.last.records)
        return spy
    finally:
        rt.close()


class _Bounded(TextChannel):
    def __init__(self, settings, max_bytes: int) -> None:
        super().__init__(settings)
        self.max_bytes = max_bytes

    def tap(self, spool_dir):
        t = super().tap(spool_dir)
        t.max_bytes = self.max_bytes
        return t


def test_text_pass_reads_the_tapped_pictures_with_the_records_of_its_own_decode(clip, own, tmp_path):
    spy = _index_then_text(clip, tmp_path / "data")
    assert spy.decodes == 0 and spy.last.tapped
    assert _lines(spy.last) == own


def test_a_resumed_visual_pass_leaves_no_tap_and_the_text_pass_decodes(clip, own, tmp_path):
    spy = _index_then_text(clip, tmp_path / "data", cursor_ms=1500)
    assert spy.decodes == 1 and not spy.last.tapped
    assert _lines(spy.last) == own


def test_changed_settings_or_a_tap_over_its_bound_fall_back_to_a_decode(clip, tmp_path):
    spy = _index_then_text(clip, tmp_path / "a", gate_change=True)
    assert spy.decodes == 1 and not spy.last.tapped and spy.last.records
    spy = _index_then_text(clip, tmp_path / "b", max_bytes=100_000)
    assert spy.decodes == 1 and not spy.last.tapped and spy.last.records


class _Broken(TextChannel):
    """A text channel whose tap raises on every picture (a bug in a tap)."""

    def tap(self, spool_dir):
        t = super().tap(spool_dir)

        def offer(t_, frame):
            raise RuntimeError("tap bug")

        t.offer = offer
        return t


def test_a_failing_tap_never_fails_the_visual_pass_and_the_text_pass_decodes(clip, own, tmp_path):
    s = tiny_settings(tmp_path / "data", channels={"text": {"enabled": True}})
    rt = Runtime.open(s, "test")
    try:
        rt.taps._channels = lambda: [_Broken(settings_from(s.channels.text), prefix=s.store.collection_prefix)]
        rec = rt.reconciler().reconcile(Root(clip)).todo[0]
        assert rt.indexer().index(rec).state == "indexed"
        spy = Spy(settings_from(s.channels.text), prefix=s.store.collection_prefix)
        passes = ChannelPasses(s, rt.catalog, rt.store, channels=[spy], taps=rt.taps)
        assert passes.run(spy, rt.catalog.get(rec.path), threading.Event()).state == "indexed"
        assert spy.decodes == 1 and _lines(spy.last) == own
    finally:
        rt.close()
