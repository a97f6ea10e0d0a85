"""`reelfind serve` as a real process through its whole life (issue 10, items 4, 6 and 7).

- SIGTERM at any moment (during the imports, while the index opens, while the model loads, while
  indexing, idle) exits 0 within seconds, never SIGABRT ("terminate called without an active
  exception") nor death by the signal.
- A transient model download failure (hub unreachable) keeps the service up: /status answers
  and says what it waits for, the load is retried, and SIGTERM still stops it cleanly.
- A FIFO / socket / directory named like a video appearing in a watched root is skipped with a
  log line and never opened: the service keeps indexing real files, answering and stopping.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import tiny_env
from tests.synthetic import GREY, make_clip
from tests.test_daemon_support import free_port, wait_for

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("reelfind")


def _serve(data: Path, root: Path, log: Path, port: int, **env: str) -> subprocess.Popen:
    """`reelfind serve` on the tiny model; an env value of "" removes that variable."""
    e = tiny_env(data, REELFIND_ROOTS=json.dumps([{"path": str(root), "stable_seconds": 0.5}]),
                 REELFIND_SERVER__PORT=str(port), **env)
    e = {k: v for k, v in e.items() if v != ""}
    return subprocess.Popen([str(EXE), "serve"], env=e, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"))  # noqa: SIM115 (closed with the process)


def _sigterm(proc: subprocess.Popen, limit: float = 15.0) -> tuple[int, float]:
    """SIGTERM; (exit status, seconds it took). A process that does not stop is killed."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.returncode, time.monotonic() - t0


def _status(port: int) -> dict | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/status", timeout=2)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


# Moments of a serve's life, each a function of (proc, port, data, root) that returns once there.
def _at_seconds(s: float):
    return lambda proc, port, data, root: time.sleep(s)


def _http_up(proc, port, data, root):  # index open, model loading or just loaded
    wait_for(lambda: _status(port), 120, interval=0.02, what="/status answering")


def _indexing(proc, port, data, root):
    wait_for(lambda: (st := _status(port)) and st.get("current"), 120, interval=0.02, what="a file being indexed")


def _idle(proc, port, data, root):
    wait_for(lambda: (st := _status(port)) and st.get("counts", {}).get("indexed", 0) >= 1
             and not st.get("current") and st["queue"]["queued"] == 0, 180, interval=0.1, what="idle after indexing")


MOMENTS = {"0.7s": _at_seconds(0.7), "2s": _at_seconds(2.0), "4s": _at_seconds(4.0), "http-up": _http_up,
           "indexing": _indexing, "idle": _idle}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigterm_at_any_moment_exits_0_within_seconds(tmp_path: Path, moment: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    make_clip(root / "clip.mp4", [(20, GREY)], fps=10, motion=True)
    log = tmp_path / "serve.log"
    port = free_port()
    proc = _serve(tmp_path / "data", root, log, port, REELFIND_SAMPLING__INTERVAL="0.25",
                  REELFIND_MODEL__BATCH_SIZE="4")
    try:
        MOMENTS[moment](proc, port, tmp_path / "data", root)
        assert proc.poll() is None, f"serve ended before SIGTERM ({proc.returncode}): {log.read_text()[-2000:]}"
        rc, took = _sigterm(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert "terminate called" not in text, text[-2000:]
    assert rc == 0, f"exit status {rc} after SIGTERM at {moment}: {text[-2000:]}"
    assert took < 10, f"took {took:.1f} s to stop at {moment}"
    print(f"SIGTERM at {moment}: exit 0 in {took:.2f} s")


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_transient_model_download_failure_keeps_serving_status_and_retries(tmp_path: Path) -> None:
    """A real open_clip model whose weights must come from the hub, with the hub unreachable: the
    service stays up (not exit 2), /status says it waits for the download, and it retries."""
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "serve.log"
    port = free_port()
    hf = tmp_path / "hf"  # an empty cache: the weights must be downloaded
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # stands in for systemd's NOTIFY_SOCKET
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.05)
    proc = _serve(tmp_path / "data", root, log, port, REELFIND_MODEL__NAME="ViT-B-32",
                  REELFIND_MODEL__PRETRAINED="laion2b_s34b_b79k", REELFIND_MODEL__CONFIG_PATH="",
                  HF_HOME=str(hf), HF_HUB_CACHE=str(hf / "hub"), HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
                  HF_HUB_OFFLINE="0", NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    sent: list[str] = []

    def status_says_waiting() -> bool:
        while True:
            try:
                sent.append(notify.recv(65536).decode())
            except (TimeoutError, BlockingIOError):
                break
        return any("STATUS=waiting for the model download" in m for m in sent)

    try:
        first = wait_for(lambda: _status(port), 120, interval=0.05, what="/status while the model loads")
        assert first["model_loaded"] is False
        # huggingface_hub retries by itself for ~45 s before open_clip gives up on one attempt.
        st = wait_for(lambda: (s := _status(port)) and s.get("waiting") and s, 240, interval=0.5,
                      what="the service to report that it waits for the model download")
        assert proc.poll() is None, "serve exited on a transient download failure"
        assert st["state"] == "waiting" and "waiting for the model download" in st["status"]
        assert "retrying in" in st["waiting"]
        assert "retrying in" in log.read_text(errors="replace")
        wait_for(status_says_waiting, 10, what="STATUS= saying what the service waits for")
        assert any(m.startswith("READY=1") for m in sent)  # up and answering, not failed
        rc, took = _sigterm(proc)  # while waiting (or already in the next attempt)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
    assert rc == 0 and took < 10, (rc, took, log.read_text(errors="replace")[-2000:])


def test_an_unknown_model_name_still_exits_2(tmp_path: Path) -> None:
    """What only the admin can fix stays a configuration error (systemd does not restart-loop)."""
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "serve.log"
    proc = _serve(tmp_path / "data", root, log, free_port(), REELFIND_MODEL__NAME="no-such-model",
                  REELFIND_MODEL__CONFIG_PATH="")
    try:
        assert proc.wait(120) == 2, log.read_text(errors="replace")[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_special_files_appearing_while_serving_are_skipped_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "serve.log"
    port = free_port()
    proc = _serve(tmp_path / "data", root, log, port)
    try:
        wait_for(lambda: (st := _status(port)) and st.get("state") == "running", 120, what="running")
        fifo = root / "pipe.mp4"
        os.mkfifo(fifo)
        (root / "folder.mkv").mkdir()
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(root / "sock.mp4"))
        time.sleep(2.0)  # longer than stable_seconds: a stability check that opened the FIFO would hang here
        make_clip(root / "real.mp4", [(2, GREY)], fps=10)
        wait_for(lambda: (st := _status(port)) and st["counts"]["indexed"] == 1, 120, interval=0.2,
                 what="the real clip indexed after the special files")
        st = _status(port)
        assert st is not None and st["counts"]["failed"] == 0 and st["queue"]["settling"] == 0
        # Still answering quickly, and a writer on the FIFO was never needed (nothing opened it).
        t0 = time.monotonic()
        assert _status(port) is not None and time.monotonic() - t0 < 2
        rc, took = _sigterm(proc)
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert rc == 0 and took < 10, (rc, took, text[-2000:])
    assert "pipe.mp4: a FIFO (named pipe), not a regular file: skipped, never opened" in text
    assert "sock.mp4: a socket" in text
