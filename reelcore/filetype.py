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


def servable(path: str, root: str) -> bool:
    """May this catalogued file be read out to a client now? It must still be a regular file whose
    real location is inside its root: a file swapped for a symlink to elsewhere after indexing (a
    writable share) must not turn media or clip requests into reads of arbitrary files."""
    try:
        real = os.path.realpath(path)
        if not stat.S_ISREG(os.stat(real).st_mode):
            return False
        return Path(real).is_relative_to(os.path.realpath(root))
    except (OSError, ValueError):
        return False
