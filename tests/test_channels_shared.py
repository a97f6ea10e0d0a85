"""Two machines (two data dirs) sharing one real `chroma run` server: what one machine heard, the
other finds. Speech records live in the server; each machine's local word index is rebuilt from it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reelcore.channels.fuse import search_channels
from reelcore.channels.speech.transcript import get_transcript
from reelcore.discovery import Root
from reelcore.runtime import Runtime
from reelcore.search import SearchService
from tests.conftest import tiny_settings
from tests.speech_support import CUES, have_tools, srt_text, talking_clip

pytestmark = [pytest.mark.timeout(300), pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_data_dirs_share_speech_through_one_chroma_server(tmp_path):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runtimes: list[Runtime] = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.time() < deadline, "chroma run did not start"
                time.sleep(0.2)
        svcs = []
        talking_clip(tmp_path / "footage-a" / "a.mp4")
        (tmp_path / "footage-a" / "a.srt").write_text(srt_text(CUES))  # a sidecar: A edits it below
        talking_clip(tmp_path / "footage-b" / "b.mp4", subtitle_cues=[(0.2, 1.5, "the flood came at night")])
        for name in ("a", "b"):
            s = tiny_settings(tmp_path / f"data-{name}", store={"url": f"http://127.0.0.1:{port}"})
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
    finally:
        for rt in runtimes:
            rt.close()
        proc.terminate()
        proc.wait(10)
