"""sd_notify: READY/STATUS/WATCHDOG/STOPPING reach a NOTIFY_SOCKET (a unix datagram socket here)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from daemon.notify import Notifier
from tests.conftest import FOOTAGE
from tests.test_daemon_support import (
    daemon_settings,
    no_leaks,  # noqa: F401 (fixture, used through pytestmark)
    running_service,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
def notify_socket(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(0.05)
    messages: list[str] = []

    def read() -> list[str]:
        while True:
            try:
                messages.append(sock.recv(65536).decode("utf-8"))
            except (TimeoutError, BlockingIOError):
                return messages

    yield str(path), read
    sock.close()


def test_notifier_without_socket_is_a_no_op() -> None:
    n = Notifier(env={})
    assert not n.enabled and n.watchdog_seconds is None
    assert n.send("READY=1") is False


def test_abstract_socket_and_watchdog_env(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"reelfind-test-{id(tmp_path)}"
    sock.bind("\0" + name)
    try:
        n = Notifier(env={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "4000000"})
        assert n.watchdog_seconds == 4.0
        n.status("indexing Café – 日本.mp4")
        assert sock.recv(1024).decode() == "STATUS=indexing Café – 日本.mp4"
        n.status("indexing Café – 日本.mp4")  # unchanged: not re-sent
        n.watchdog()
        assert sock.recv(1024) == b"WATCHDOG=1"
        n.close()
    finally:
        sock.close()
    assert Notifier(env={"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_seconds is None


def test_service_sends_ready_status_watchdog_and_stopping(tmp_path: Path, notify_socket) -> None:
    addr, read = notify_socket
    root = tmp_path / "root"
    root.mkdir()
    settings = daemon_settings(tmp_path / "data", [{"path": str(root), "stable_seconds": 0.5}])
    notifier = Notifier(env={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "1000000"})
    with running_service(settings, notifier=notifier) as svc:
        wait_for(lambda: any(m.startswith("READY=1") for m in read()), 10, what="READY=1")
        shutil.copy(FOOTAGE / "asl_book.mkv", root / "a.mkv")
        wait_for(lambda: any("1 indexed" in m for m in read()), 30, what="STATUS with the new count")
        wait_for(lambda: read().count("WATCHDOG=1") >= 3, 10, what="watchdog pings")
        assert svc.ready.is_set()
    msgs = read()
    ready = next(m for m in msgs if m.startswith("READY=1"))
    assert "STATUS=" in ready  # READY carries the first status line
    assert any(m.startswith("STATUS=starting") for m in msgs[: msgs.index(ready)])
    assert any(m.startswith("STATUS=idle") for m in msgs)
    assert any(m.startswith("STATUS=indexing a.mkv") or "1 indexed" in m for m in msgs)
    assert msgs[-1].startswith("STOPPING=1") or any(m.startswith("STOPPING=1") for m in msgs[-3:])


def test_a_status_with_an_undecodable_file_name_is_sent_not_raised(notify_socket):
    """STATUS= carries file names; one with surrogate escapes (a Latin-1 name) must not raise out of
    the supervisor loop (that was a crash, then a systemd restart loop on the same file)."""
    path, read = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    n.status("indexing caf\udce9.mov 3 s")
    n.close()
    assert read() and read()[-1].startswith("STATUS=indexing caf")
