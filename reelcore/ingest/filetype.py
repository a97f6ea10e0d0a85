"""Is this path a regular file we may open? Decided from lstat/stat alone, never by opening it.

Opening a FIFO blocks until a writer appears (forever, in a watched root), a device file may block
or have side effects, and a socket cannot be read at all: such paths are skipped before anything
(fingerprint, probe, decode, the watcher's stability check) opens them. Used by discovery, the
indexer and the daemon's watcher/worker.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def special_file_reason(path: str | os.PathLike[str]) -> str | None:
    """A short human reason why `path` is not a regular file (so must never be opened), else None.

    None also when lstat itself fails for another reason (the path vanished, EACCES, EIO): that is
    not a special file, and the caller's own stat/open reports the error as usual."""
    try:
        lst = os.lstat(path)
    except OSError:
        return None
    st = lst
    link = stat.S_ISLNK(lst.st_mode)
    if link:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "a dangling symlink (its target does not exist): skipped"
        except OSError as e:
            if e.errno == errno.ELOOP:
                return "a symlink loop: skipped"
            return None
    what = _kind(st.st_mode)
    if what is None:
        return None
    via = "a symlink to " if link else ""
    return f"{via}{what}, not a regular file: skipped, never opened"


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a special file"


def is_regular(path: str | os.PathLike[str]) -> bool:
    """True for a regular file (or a symlink to one); never opens the path."""
    return special_file_reason(path) is None


def open_servable(path: str, root: str) -> int | None:
    """Open a catalogued file for reading out to a client, or None when it must not be served.

    Opened once, never through a symlink in its last component (O_NOFOLLOW) and without blocking
    on a FIFO (O_NONBLOCK); then the *open descriptor* is checked: a regular file whose real
    location (what /proc/self/fd says it is) lies inside the root's real location, so a symlinked
    parent folder cannot lead outside either. The caller reads this descriptor and nothing else: a
    video swapped for a symlink to /etc/reelfind/config.toml after the check cannot be served."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode) and Path(_fd_path(fd, path)).is_relative_to(os.path.realpath(root)):
            os.set_blocking(fd, True)
            return fd
    except (OSError, ValueError):
        pass
    os.close(fd)
    return None


def _fd_path(fd: int, opened: str) -> str:
    """Where an open descriptor really is: Linux names it in /proc/self/fd; elsewhere the real path
    of the name it was opened by (the last component was not a symlink: O_NOFOLLOW)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(opened)
