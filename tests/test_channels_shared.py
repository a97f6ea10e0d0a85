"""Two machines (two data dirs) sharing one real `chroma run` server: what one machine heard, the
other finds. Speech records live in the server; each machine's local word index is rebuilt from it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reelcore.channels.fuse import search_channels
from reelcore.channels.speech.transcript import get_transcript
from reelcore.ingest.discovery import Root
from reelcore.query.search import SearchService
from reelcore.runtime import Runtime
from tests.conftest import tiny_settings
from tests.speech_support import CUES, have_tools, srt_text, talking_clip
from tests.store_support import chroma_server

pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng")]


def test_two_data_dirs_share_speech_through_one_chroma_server(tmp_path):
    runtimes: list[Runtime] = []
    with chroma_server(tmp_path / "server") as url:
        try:
            _share(tmp_path, url, runtimes)
        finally:
            for rt in runtimes:
                rt.close()


def _share(tmp_path: Path, url: str, runtimes: list[Runtime]) -> None:
    """Machine A and machine B, each its own data dir, on one server."""
    svcs = []
    talking_clip(tmp_path / "footage-a" / "a.mp4")
    (tmp_path / "footage-a" / "a.srt").write_text(srt_text(CUES))  # a sidecar: A edits it below
    talking_clip(tmp_path / "footage-b" / "b.mp4", subtitle_cues=[(0.2, 1.5, "the flood came at night")])
    for name in ("a", "b"):
        s = tiny_settings(tmp_path / f"data-{name}", store={"url": url})
        rt = Runtime.open(s, "test")
        runtimes.append(rt)
        for r in rt.reconciler().reconcile(Root(tmp_path / f"footage-{name}")).todo:
            assert rt.indexer().index(r).state == "indexed"
        assert [o.state for o in rt.channel_passes().run_due(threading.Event())] == ["indexed"]
        svcs.append(SearchService(s, rt.catalog, rt.store, rt.embedder, rt.thumbs))
    a, b = svcs
    for svc in (a, b):  # either machine finds what either one heard
        out = search_channels(svc, "never went back", ["said"])
        assert out.match == "good" and out.moments[0].path == str(tmp_path / "footage-a" / "a.mp4")
        out = search_channels(svc, "flood", ["said"])
        assert out.moments[0].said.text == "the flood came at night"
    tr = get_transcript(b, str(tmp_path / "footage-a" / "a.mp4"))
    assert tr.speech == "indexed" and [x.text for x in tr.segments] == [c[2] for c in CUES]
    # A's sidecar changes (same number of cues, other words): B's local word index follows the server.
    (tmp_path / "footage-a" / "a.srt").write_text(srt_text([(0.3, 1.4, "Goodbye sun"), (1.6, 2.9, "We stayed")]))
    pa = runtimes[0].channel_passes()
    assert pa.refresh() == 1 and [o.records for o in pa.run_due(threading.Event())] == [2]
    assert search_channels(b, "never went back", ["said"]).moments == []
    assert search_channels(b, "we stayed", ["said"]).moments[0].said.text == "We stayed"
