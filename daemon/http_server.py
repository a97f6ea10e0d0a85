"""uvicorn in a thread of `reelfind serve`, on a socket we bind ourselves.

Binding first makes a busy port a clear start-up error (uvicorn would only log it and end its
thread), and lets the service learn the real port when port 0 is configured (tests).

`beat()` / `answering()` let the supervisor notice an event loop that stopped answering (a
handler that blocked it): systemd's watchdog pings stop, as for a stuck indexer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any


class HttpServer:
    """Serve an ASGI app on host:port in a daemon thread; `stop()` ends it within seconds."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn  # function-level: start-up speed of the CLI's other commands

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, reuse_port=False)
        # ws="none": nothing here speaks WebSocket, and the websockets import is start-up time.
        config = uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=3,
                                access_log=False, ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="reelfind-http", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_beat = time.monotonic()

    def beat(self) -> None:
        """Ask the event loop to note that it is alive (any thread; returns at once)."""
        if self._loop is None:
            servers = getattr(self.server, "servers", None) or []
            self._loop = servers[0].get_loop() if servers else None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._note_beat)

    def _note_beat(self) -> None:
        self._last_beat = time.monotonic()

    def answering(self, stall: float) -> bool:
        """False once the event loop has run none of the `beat()`s of the last `stall` seconds.
        True while the loop is not known (not started yet, or a uvicorn that hides its servers):
        a check we cannot make must never get a healthy service restarted."""
        if self._loop is None:
            self._last_beat = time.monotonic()
            return True
        return time.monotonic() - self._last_beat < stall

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self, timeout: float = 60.0) -> bool:
        """Start serving; True once uvicorn has started (lifespan done)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        return bool(self.server.started)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        self.sock.close()
