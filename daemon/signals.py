"""SIGTERM/SIGINT of `reelfind serve` as a stop request, from the first moment of the command.

`reelfind serve` installs this before it imports the service (seconds of imports on a busy box:
torch, Chroma, the MCP SDK), so a `systemctl restart` during start-up, model load or warm-up is a
clean stop (exit 0) and never the default SIGTERM death or an abort in a native thread.

Until the service has opened the index (`opened()`), nothing exists that a stop could save, and
Python cannot interrupt an import or a native call in progress: the handler then leaves at once
with status 0 (the kernel drops the data-dir lock; SQLite and Chroma are crash-safe). After
that it only sets the stop event, and the service shuts down in order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_exit_at_once = False  # set by stop_on_signals(early_exit=True), cleared by opened()


def opened() -> None:
    """The service holds state worth an orderly stop: from now on a signal only sets the event."""
    global _exit_at_once
    _exit_at_once = False


def stop_on_signals(stop: threading.Event | None = None, early_exit: bool = False
                    ) -> tuple[threading.Event, dict[int, Any]]:
    """Make SIGTERM/SIGINT set `stop` (a new Event if None); returns it and the previous handlers.
    `early_exit`: until `opened()` is called, a signal ends the process at once with status 0."""
    global _exit_at_once
    event = stop or threading.Event()
    if early_exit:
        _exit_at_once = True

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if _exit_at_once:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"{name} during start-up: stopped (nothing was open yet)\n")
                sys.stderr.flush()
            os._exit(0)
        if event.is_set():
            log.warning("%s again: still stopping", name)
        else:
            log.info("%s: stopping (the current batch is committed first)", name)
        event.set()

    old = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    return event, old


def restore(old: dict[int, Any]) -> None:
    for s, h in old.items():
        signal.signal(s, h)
