"""systemd notifications over the standard NOTIFY_SOCKET datagram protocol (sd_notify(3)).

Without NOTIFY_SOCKET (not started by systemd, or Type= is not notify) every call is a no-op.
Messages are UTF-8 (file names in STATUS= may be any language), sent with one `sendto` each so a
restarted systemd manager is reached at the same path. Errors are logged once, never raised.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """READY=1, STATUS=..., WATCHDOG=1, STOPPING=1 to the service manager."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        addr = env.get("NOTIFY_SOCKET") or None
        if addr and addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace socket
        self.address = addr
        self._sock: socket.socket | None = None
        self._warned = False
        self.watchdog_seconds = _watchdog_seconds(env)
        self.last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one message made of `KEY=value` fields (newline-separated)."""
        if self.address is None:
            return False
        msg = "\n".join(fields).encode("utf-8", "replace")  # a file name may carry surrogate escapes
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(msg, self.address)
            return True
        except OSError as e:
            if not self._warned:
                log.warning("cannot notify systemd via %r: %s", self.address, e)
                self._warned = True
            return False

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        """STATUS= (shown by `systemctl status`); unchanged text is not re-sent."""
        text = " ".join(text.split())  # one line
        if text != self.last_status:
            self.last_status = text
            self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> None:
        self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def stopping(self, status: str | None = None) -> None:
        self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_seconds(env: dict[str, str]) -> float | None:
    """WatchdogSec= as seconds, if systemd asked this process (WATCHDOG_PID unset or ours) for pings."""
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None
