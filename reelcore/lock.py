"""The data-dir lock: exactly one process owns an embedded store (see docs/architecture.md, process model).

The lock is an open-file-description (OFD) write lock on <data_dir>/reelfind.lock. Unlike an
flock, an OFD lock can be *queried* without being taken (F_OFD_GETLK), so `is_locked()` -- which
the stdio bridge and `reelfind status` call on every request -- never holds the lock, not even for
a moment, and can therefore never make a real `acquire()` fail. Like an flock (and unlike a classic
POSIX lock) it belongs to the open file, not the process: reading the owner record through another
descriptor does not drop it, a second open in the same process conflicts with it, and the kernel
drops it when the owner dies (even kill -9).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import struct
from pathlib import Path
from typing import Any

# struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
# (native alignment; padded to the kernel's 32 bytes on 64-bit ABIs).
_FLOCK = "hhqqi4x"
_BUSY = (errno.EAGAIN, errno.EACCES)


class StoreLocked(Exception):
    """Another live process owns the store; `owner` says who (pid, command, MCP URL)."""

    def __init__(self, path: Path, owner: dict[str, Any]) -> None:
        self.owner = owner
        who = f"pid {owner.get('pid', '?')} ({owner.get('command', '?')})"
        super().__init__(f"the index in {path.parent} is in use by {who}")


def _whole_file(kind: int) -> bytes:
    return struct.pack(_FLOCK, kind, os.SEEK_SET, 0, 0, 0)


class DataDirLock:
    """An OFD write lock on <data_dir>/reelfind.lock plus an owner record written into the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, command: str, url: str | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _whole_file(fcntl.F_WRLCK))
        except OSError as e:
            os.close(fd)
            if e.errno not in _BUSY:
                raise
            raise StoreLocked(self.path, read_owner(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command, "url": url}).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, _whole_file(fcntl.F_UNLCK))
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_owner(path: Path) -> dict[str, Any]:
    """Who holds the lock (empty dict if nobody or unreadable)."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_locked(path: Path) -> bool:
    """Whether someone (this process included) holds the lock. Asks the kernel; takes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        # A read-only descriptor may still *ask* about a write lock: F_GETLK needs no access mode.
        answer = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _whole_file(fcntl.F_WRLCK))
        return struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)
