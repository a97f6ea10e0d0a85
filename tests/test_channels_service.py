"""The speech channel inside the service: after the visual pass, at lower priority, per channel state."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.scheduler import queue_reconciles
from tests.speech_support import CUES, have_tools, srt_text, talking_clip
from tests.test_daemon_support import (
    daemon_settings,
    done_for,
    no_leaks,  # noqa: F401 (fixture, used through pytestmark)
    running_service,
    wait_for,
)

pytestmark = [pytest.mark.usefixtures("no_leaks"), pytest.mark.timeout(300),
              pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng")]


def _speech(svc, path: Path) -> list:
    return [d for d in svc.worker.channel_done if d.path == str(path)]


def test_service_runs_speech_after_visual_and_again_for_a_new_sidecar(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    staging = tmp_path / "staging"
    clip = talking_clip(staging / "talk.mp4", subtitle_cues=CUES)
    settings = daemon_settings(tmp_path / "data", [{"path": str(root), "watch": "events", "poll_interval": 0.5,
                                                    "stable_seconds": 1.0}])
    with running_service(settings) as svc:
        dest = root / "talk.mp4"
        clip.rename(dest)
        wait_for(lambda: _speech(svc, dest), 60, what="speech pass")
        visual = done_for(svc, dest)
        assert [d.state for d in visual] == ["indexed"]
        speech = _speech(svc, dest)
        assert [d.state for d in speech] == ["speech indexed"] and speech[0].frames == 2
        assert speech[0].started >= visual[0].finished  # visual first
        st = svc.status()
        assert st["channels"]["speech"]["indexed"] == 1 and st["channels"]["speech"]["records"] == 2
        assert "speech: 1/1 files" in svc.status_line()
        # A sidecar written later: the next scan makes speech due again for this file alone.
        (root / "talk.srt").write_text(srt_text([(3.0, 3.5, "a third line")]))
        queue_reconciles([s.root for s in svc.watcher.states], svc.queue)
        wait_for(lambda: len(_speech(svc, dest)) == 2, 60, what="speech pass after the sidecar")
        assert _speech(svc, dest)[-1].frames == 3
        assert [d.state for d in done_for(svc, dest)] == ["indexed"]  # no second visual pass


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> Path:
    """Built before the test's thread check starts (the converter leaves tqdm's monitor thread)."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("transformers")
    from tests.whisper_tiny import tiny_whisper_once

    return tiny_whisper_once(tmp_path_factory.getbasetemp())


def test_service_transcribes_footage_without_subtitles_loading_the_model_in_the_background(tmp_path, tiny_whisper):
    model = tiny_whisper
    root = tmp_path / "root"
    root.mkdir()
    clip = talking_clip(tmp_path / "staging" / "talk.mp4")
    settings = daemon_settings(tmp_path / "data", [{"path": str(root), "watch": "events", "poll_interval": 0.5,
                                                    "stable_seconds": 1.0}],
                               channels={"speech": {"sources": ["sidecar", "stream", "asr"], "asr_model": str(model)}})
    with running_service(settings) as svc:
        dest = root / "talk.mp4"
        clip.rename(dest)
        wait_for(lambda: _speech(svc, dest), 90, what="speech pass")
        assert [d.state for d in _speech(svc, dest)] == ["speech indexed"]
        assert [d.state for d in done_for(svc, dest)] == ["indexed"]
        rec = svc.rt.catalog.get(str(dest))
        segs = svc.worker.passes.sink(svc.worker.passes.speech).index().store.video(rec.video_id)
        assert all(x.source.startswith("asr:") and 0 <= x.start <= x.end for x in segs)
        assert svc.worker.passes.speech.asr().device == "cpu"


def test_undownloadable_asr_model_is_retried_with_doubling_backoff_and_shown_in_every_status(
        tmp_path: Path, monkeypatch) -> None:
    """The default model name with no internet here: files that need ASR wait (doubling waits, the
    timing injected so nothing sleeps for real) while pictures and a file with subtitles are indexed;
    `reelfind status`, GET /status, index_status and the STATUS= line say why ASR is not running."""
    import daemon.worker
    from daemon.handoff import service_status
    from reelcore.status import collect_status, index_status

    monkeypatch.setattr(daemon.worker, "CHANNEL_RETRY_FIRST", 0.05)
    monkeypatch.setattr(daemon.worker, "CHANNEL_RETRY_MAX", 0.2)
    root = tmp_path / "root"
    talking_clip(root / "a_talk.mp4")  # no subtitles: needs ASR (first in the catalog)
    talking_clip(root / "b_subs.mp4", subtitle_cues=CUES, say="something else")  # needs no ASR
    settings = daemon_settings(tmp_path / "data", [{"path": str(root), "watch": "events", "poll_interval": 0.5,
                                                    "stable_seconds": 1.0}],
                               channels={"speech": {"sources": ["sidecar", "stream", "asr"], "asr_model": "base"}})
    with running_service(settings) as svc:
        talk, subs = root / "a_talk.mp4", root / "b_subs.mp4"
        wait_for(lambda: done_for(svc, talk) and done_for(svc, subs), 60, what="visual passes")
        assert [d.state for d in done_for(svc, talk) + done_for(svc, subs)] == ["indexed", "indexed"]  # pictures go on
        wait_for(lambda: len(svc.worker.channel_waits.get("speech", [])) >= 5, 60, what="five failed loads")
        assert svc.worker.channel_waits["speech"][:5] == [0.05, 0.1, 0.2, 0.2, 0.2]  # doubling, capped
        wait_for(lambda: _speech(svc, subs), 30, what="the subtitled file's speech pass")  # not held up by ASR
        assert [d.state for d in _speech(svc, subs)] == ["speech indexed"] and not _speech(svc, talk)
        st = svc.status()  # GET /status
        why = st["channels"]["speech"]["unavailable"]
        assert "cannot load the speech model 'base'" in why and "retrying in" in why
        assert "speech: 1/2 files" in st["status"] and "not running: cannot load" in st["status"]  # STATUS=
        cli = collect_status(settings, service_status(settings))  # `reelfind status`
        assert "cannot load the speech model 'base'" in cli["channels"]["speech"]["unavailable"]
        mcp = index_status(svc.provider.search_service(), svc.provider.current_work())  # index_status tool
        assert "cannot load the speech model 'base'" in mcp.channels["speech"]["unavailable"]
        rec = svc.rt.catalog.get(str(talk))
        row = svc.worker.passes.states(svc.worker.passes.speech).get(rec.video_id)
        assert row.state == "pending" and row.attempts == 0  # never failed, no attempt spent
