"""Run the real `reelfind` CLI, killing itself (SIGKILL) at one exact point of the code.

    python -m tests.crashpoints -- index /some/folder          (with REELFIND_TEST_CRASH set)

REELFIND_TEST_CRASH = "module:Qualified.name:before|after[:key=value,...][@N]": wrap that callable
so that its N-th call (default 1st) whose keyword arguments contain every `key` (and equal `value`
when one is given) kills the process with SIGKILL just before or just after the real call.
A hard kill leaves exactly what a power cut or `kill -9` leaves: nothing is flushed or rolled back
by Python. Only tests use this; the product code has no hooks for it.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from typing import Any

ENV = "REELFIND_TEST_CRASH"


def _matches(kwargs: dict[str, Any], conds: list[tuple[str, str | None]]) -> bool:
    for key, value in conds:
        if key not in kwargs:
            return False
        if value is not None and str(kwargs[key]) != value:
            return False
    return True


def install(spec: str) -> None:
    target, _, nth = spec.partition("@")
    parts = target.split(":")
    module, qual, when = parts[0], parts[1], parts[2]
    conds: list[tuple[str, str | None]] = []
    if len(parts) > 3 and parts[3]:
        for c in parts[3].split(","):
            k, eq, v = c.partition("=")
            conds.append((k, v if eq else None))
    owner: Any = importlib.import_module(module)
    *path, name = qual.split(".")
    for p in path:
        owner = getattr(owner, p)
    real = getattr(owner, name)
    count = {"n": 0}
    want = int(nth or 1)

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fire = False
        if _matches(kwargs, conds):
            count["n"] += 1
            fire = count["n"] == want
        if fire and when == "before":
            _die()
        out = real(*args, **kwargs)
        if fire and when == "after":
            _die()
        return out

    setattr(owner, name, wrapper)


def _die() -> None:
    sys.stderr.write("crashpoint reached\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    spec = os.environ.get(ENV)
    if spec:
        install(spec)
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    from reelfind.cli import app

    app(argv, prog_name="reelfind")


if __name__ == "__main__":
    main()
