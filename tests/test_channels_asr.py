"""Speech recognition through the real faster-whisper code path on a tiny random-weight model
built here (tests/whisper_tiny.py): plumbing only, so structure and timing are checked, never the
words. With REELFIND_TEST_WHISPER naming a real CTranslate2 Whisper model directory, one more test
checks that real weights hear espeak-ng's sentence."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from reelcore.channels.speech import asr
from reelcore.channels.speech.channel import asr_identity
from reelcore.channels.state import ChannelStates
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from tests.conftest import tiny_settings
from tests.speech_support import CUES, have_tools, long_talking_clip, talking_clip

pytest.importorskip("faster_whisper")
pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(not have_tools(), reason="needs ffmpeg and espeak-ng")]


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    from tests.whisper_tiny import tiny_whisper_once

    return tiny_whisper_once(tmp_path_factory.getbasetemp())


def asr_settings(data: Path, model: Path | str, **speech):
    return tiny_settings(data, channels={"speech": {"sources": ["sidecar", "stream", "asr"],
                                                    "asr_model": str(model), **speech}})


def index(settings, root: Path, should_yield=None):
    rt = Runtime.open(settings, "test")
    try:
        plan = rt.reconciler().reconcile(Root(root))
        assert {rt.indexer().index(r).state for r in plan.todo} <= {"indexed"}
        passes = rt.channel_passes()
        return passes.run_due(threading.Event(), should_yield=should_yield)
    finally:
        rt.close()


def stored(settings, path: Path):
    rt = Runtime.open(settings, "test")
    try:
        rec = rt.catalog.get(str(path))
        passes = rt.channel_passes()
        ch = passes.speech
        return rec, passes.states(ch).get(rec.video_id), passes.sink(ch).index().store.video(rec.video_id)
    finally:
        rt.close()


def test_asr_segments_have_source_language_and_times_within_the_audio(tmp_path, tiny_whisper):
    clips = tmp_path / "clips"
    clip = talking_clip(clips / "talk.mp4", seconds=3.0)
    talking_clip(clips / "subbed.mp4", subtitle_cues=CUES)  # subtitles: no ASR by default (asr_when)
    talking_clip(clips / "mute.mp4", audio=False)
    s = asr_settings(tmp_path / "data", tiny_whisper)
    outs = {Path(o.path).name: o for o in index(s, clips)}
    assert {n: o.state for n, o in outs.items()} == {"talk.mp4": "indexed", "subbed.mp4": "indexed",
                                                     "mute.mp4": "indexed"}
    rec, row, segs = stored(s, clip)
    assert row.state == "indexed" and row.records == len(segs) and row.seconds == pytest.approx(3.0, abs=0.2)
    for seg in segs:  # random weights: whatever it "heard", it is placed inside the audio
        assert seg.source == f"asr:{asr_identity(s.channels.speech)}"
        assert seg.source == "asr:whisper-whisper-tiny-random-auto-b1-vad-no_subtitles"
        assert seg.language and 0.0 <= seg.start <= seg.end <= 3.0 + 0.05 and seg.text
        for w in seg.words:
            assert 0.0 <= w.start <= w.end <= 3.0 + 0.05
    assert [x.start for x in segs] == sorted(x.start for x in segs)
    _, row, segs = stored(s, clips / "subbed.mp4")
    assert {x.source.split(":")[0] for x in segs} == {"stream"}
    _, row, segs = stored(s, clips / "mute.mp4")
    assert row.state == "indexed" and segs == [] and row.note == "no audio stream"


def test_asr_always_runs_beside_subtitles_and_a_new_model_backfills_speech_alone(tmp_path, tiny_whisper):
    clips = tmp_path / "clips"
    clip = talking_clip(clips / "subbed.mp4", subtitle_cues=CUES, seconds=3.0)
    s = tiny_settings(tmp_path / "data")
    index(s, clips)  # the default: subtitles only
    rec0, _, segs = stored(s, clip)
    assert {x.source.split(":")[0] for x in segs} == {"stream"}
    s2 = asr_settings(tmp_path / "data", tiny_whisper, asr_when="always")
    outs = index(s2, clips)  # the identity changed: speech alone runs again
    assert [o.state for o in outs] == ["indexed"]
    rec, row, segs = stored(s2, clip)
    assert (rec.frames, rec.cursor_ms, rec.updated_at) == (rec0.frames, rec0.cursor_ms, rec0.updated_at)
    assert "stream" in {x.source.split(":")[0] for x in segs} and row.identity.endswith("always")


def test_interrupted_asr_pass_resumes_after_its_last_committed_segment(tmp_path, tiny_whisper, monkeypatch):
    monkeypatch.setattr(asr, "COMMIT_SEGMENTS", 1)
    clips = tmp_path / "clips"
    clip = long_talking_clip(clips / "long.mp4", 75)
    s = asr_settings(tmp_path / "data", tiny_whisper, asr_vad=False)
    rt = Runtime.open(s, "test")
    try:
        plan = rt.reconciler().reconcile(Root(clips))
        rt.indexer().index(plan.todo[0])
        states = ChannelStates(rt.catalog, "speech")
        vid = rt.catalog.get(str(clip)).video_id

        def committed() -> bool:  # yield (as for a visual job) once the pass has committed something
            row = states.get(vid)
            return row is not None and row.records > 0

        passes = rt.channel_passes()
        out = passes.run(passes.speech, rt.catalog.get(str(clip)), threading.Event(), should_yield=committed)
        assert out.state == "interrupted"
        row = states.get(vid)
        assert row.state == "pending" and row.cursor_ms > 0 and row.records >= 1 and row.attempts == 0
        first = passes.sink(passes.speech).index().store.video(vid)
        assert len(first) == row.records
        out = passes.run(passes.speech, rt.catalog.get(str(clip)), threading.Event())
        assert out.state == "indexed"
        final = passes.sink(passes.speech).index().store.video(vid)
        assert final[:len(first)] == first  # the committed segments were kept, not redone
        assert all(x.start >= row.cursor_ms / 1000 - 0.05 for x in final[len(first):])
        assert states.get(vid).records == len(final) and states.get(vid).cursor_ms is None
    finally:
        rt.close()


def test_unloadable_model_gives_the_pass_back_and_never_fails_the_file(tmp_path):
    clips = tmp_path / "clips"
    talking_clip(clips / "talk.mp4")
    s = asr_settings(tmp_path / "data", tmp_path / "no-such-model")
    from reelcore.channels.base import ChannelUnavailable

    with pytest.raises(ChannelUnavailable, match="cannot load the speech model"):
        index(s, clips)
    rec, row, segs = stored(s, clips / "talk.mp4")
    assert rec.state == "indexed" and row.state == "pending" and row.attempts == 0 and segs == []


@pytest.mark.skipif(not os.environ.get("REELFIND_TEST_WHISPER"),
                    reason="set REELFIND_TEST_WHISPER to a CTranslate2 Whisper model directory")
def test_real_weights_hear_the_sentence(tmp_path):
    clips = tmp_path / "clips"
    clip = talking_clip(clips / "talk.mp4", say="we never went back to the river", seconds=4.0)
    s = asr_settings(tmp_path / "data", os.environ["REELFIND_TEST_WHISPER"])
    index(s, clips)
    _, row, segs = stored(s, clip)
    text = " ".join(x.text.lower() for x in segs)
    assert "river" in text and segs[0].language == "en" and any(x.words for x in segs)


def test_kill_9_during_a_speech_pass_resumes_from_the_last_committed_segment(tmp_path, tiny_whisper):
    import json
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.conftest import REPO, tiny_env

    clips = tmp_path / "clips"
    clip = long_talking_clip(clips / "long.mp4", 240)
    env = tiny_env(tmp_path / "data", REELFIND_CHANNELS__SPEECH__SOURCES='["sidecar", "stream", "asr"]',
                   REELFIND_CHANNELS__SPEECH__ASR_MODEL=str(tiny_whisper), REELFIND_CHANNELS__SPEECH__ASR_VAD="false")
    cmd = [sys.executable, "-m", "reelfind.cli", "index", str(clips), "--json"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    catalog = tmp_path / "data" / "catalog.sqlite3"

    def speech_row():
        if not catalog.exists():
            return None
        db = sqlite3.connect(catalog)
        try:
            return db.execute("SELECT state, cursor_ms, records, attempts FROM channel_files").fetchone()
        except sqlite3.OperationalError:  # not migrated yet
            return None
        finally:
            db.close()

    deadline = time.monotonic() + 240
    while (row := speech_row()) is None or row[1] is None:  # wait for the first committed batch
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no speech segment was committed"
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children()
    assert children  # the recognition process, busy
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert_gone(children)  # the recognition process died with it: no orphan
    state, cursor_ms, records, attempts = speech_row()
    assert state == "indexing" and cursor_ms > 0 and records >= asr.COMMIT_SEGMENTS and attempts == 1
    s = asr_settings(tmp_path / "data", tiny_whisper, asr_vad=False)
    rec0, _, before = stored(s, clip)
    assert rec0.state == "indexed" and len(before) == records  # the visual pass had finished before speech
    r = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 0 and summary["skipped_unchanged"] == 1 and summary["speech"]["indexed"] == 1
    rec, row, after = stored(s, clip)
    assert (rec.frames, rec.updated_at) == (rec0.frames, rec0.updated_at)
    assert after[:records] == before  # kept, not transcribed again
    assert all(x.start >= cursor_ms / 1000 - 0.05 for x in after[records:]) and len(after) > records
    assert row.state == "indexed" and row.records == len(after) and row.attempts == 0


def test_sigterm_during_a_speech_pass_of_the_service_exits_0_and_a_restart_resumes(tmp_path, tiny_whisper):
    import json
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.conftest import tiny_env
    from tests.test_daemon_support import free_port

    root = tmp_path / "root"
    clip = long_talking_clip(root / "long.mp4", 100)
    data = tmp_path / "data"
    env = tiny_env(data, REELFIND_ROOTS=json.dumps([{"path": str(root), "stable_seconds": 0.5}]),
                   REELFIND_SERVER__PORT=str(free_port()),
                   REELFIND_CHANNELS__SPEECH__SOURCES='["sidecar", "stream", "asr"]',
                   REELFIND_CHANNELS__SPEECH__ASR_MODEL=str(tiny_whisper), REELFIND_CHANNELS__SPEECH__ASR_VAD="false")
    exe = Path(sys.executable).with_name("reelfind")
    log = tmp_path / "serve.log"

    def serve() -> subprocess.Popen:
        return subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL,
                                stderr=open(log, "ab"))  # noqa: SIM115 (closed with the process)

    def row():
        db = data / "catalog.sqlite3"
        if not db.exists():
            return None
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT state, cursor_ms, records FROM channel_files").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            con.close()

    def wait(cond, what: str, proc: subprocess.Popen, timeout: float = 240):
        deadline = time.monotonic() + timeout
        while not (got := cond()):
            assert proc.poll() is None, f"serve exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {log.read_text()[-2000:]}"
            time.sleep(0.05)
        return got

    proc = serve()
    try:
        wait(lambda: (r := row()) is not None and r[1] is not None, "a committed speech batch", proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()[-2000:]
    state, cursor_ms, records = row()
    assert state == "pending" and cursor_ms > 0 and records > 0  # given back, its committed part kept
    proc = serve()
    try:
        wait(lambda: (r := row()) is not None and r[0] == "indexed", "the resumed speech pass", proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "speech: resuming" in log.read_text() or row()[2] > records
    assert clip.exists()


class _Until(threading.Event):
    """A stop event that is set once `cond()` holds (as a pass's yield is, once a visual job is queued)."""

    def __init__(self, cond) -> None:
        super().__init__()
        self.cond = cond

    def is_set(self) -> bool:
        return self.cond()


def assert_gone(procs: list, timeout: float = 60) -> None:
    """Wait until every process has ended (gone, or a zombie nobody reaps)."""
    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running: {alive}"


def test_a_pass_asked_to_yield_stops_the_recognition_process_until_the_next_pass(tmp_path, tiny_whisper, monkeypatch):
    """A CTranslate2 window cannot be interrupted: the pass that yields to a visual job stops the
    recognition process on the spot (SIGSTOP), and the next pass resumes it (SIGCONT)."""
    monkeypatch.setattr(asr, "COMMIT_SEGMENTS", 1)
    clip = long_talking_clip(tmp_path / "long.mp4", 75)
    tr = asr.Transcriber(asr_settings(tmp_path / "data", tiny_whisper, asr_vad=False))
    try:
        committed: list = []
        heard = tr.transcribe(str(clip), _Until(lambda: bool(committed)), on_records=committed.extend)
        assert heard is not None and not heard.complete and committed and tr.paused
        child = psutil.Process(tr.pid)
        deadline = time.monotonic() + 30  # SIGSTOP is delivered asynchronously: wait for the state
        while child.status() != psutil.STATUS_STOPPED:  # paused, not abandoned: the model stays loaded
            assert time.monotonic() < deadline, child.status()
            time.sleep(0.01)
        produced, cpu = tr.produced.value, child.cpu_times()
        time.sleep(0.5)  # a chance to misbehave: a running child would recognise and send more
        assert (tr.produced.value, child.cpu_times()) == (produced, cpu) and child.status() == psutil.STATUS_STOPPED
        n = len(committed)
        resumed = tr.transcribe(str(clip), threading.Event(), committed[-1].end, on_records=committed.extend)
        assert resumed is not None and resumed.complete and len(committed) > n and not tr.paused
        assert tr.produced.value > produced and tr.pid == child.pid  # the same warm process
        assert all(x.start >= committed[n - 1].end - 0.05 for x in committed[n:])
    finally:
        tr.close()
    assert_gone([child])


def test_the_recognition_process_dies_with_its_parent(tmp_path, tiny_whisper):
    """kill -9 of the process that runs ASR (serve, index) must leave no recognition process behind,
    even one it had stopped (SIGSTOP) for a visual job: nothing would ever resume or reap it."""
    import subprocess
    import sys

    from tests.conftest import REPO

    clip = long_talking_clip(tmp_path / "long.mp4", 75)
    script = tmp_path / "parent.py"
    script.write_text(f"""
import sys, threading
sys.path.insert(0, {str(REPO)!r})
from reelcore.channels.speech import asr
from tests.test_channels_asr import asr_settings
from pathlib import Path
if __name__ == "__main__":  # the spawned recognition process imports this file as its main module
    tr = asr.Transcriber(asr_settings(Path({str(tmp_path / 'data')!r}), Path({str(tiny_whisper)!r}), asr_vad=False))
    asr.COMMIT_SEGMENTS = 1
    got = []
    stop = type("Until", (threading.Event,), {{"is_set": lambda self: bool(got)}})()
    tr.transcribe({str(clip)!r}, stop, on_records=got.extend)
    print(tr.pid, flush=True)
    threading.Event().wait()
""")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        child = psutil.Process(int(proc.stdout.readline()))
        assert child.ppid() == proc.pid
        deadline = time.monotonic() + 30
        while child.status() != psutil.STATUS_STOPPED:  # paused for a visual job
            assert time.monotonic() < deadline, child.status()
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    assert_gone([child])
