"""Which read errors mean "not now" (a share dropping, a failing disk) rather than "broken file"."""

from __future__ import annotations

import errno
import os

# OS-level errors on a read that say nothing about the file's data: retried later, stored work kept.
TRANSIENT_ERRNOS = frozenset(
    getattr(errno, n) for n in (
        "EIO", "ESTALE", "ENOENT", "ENOTCONN", "ETIMEDOUT", "EHOSTDOWN", "EHOSTUNREACH", "ENXIO",
        "ENODEV", "ECONNRESET", "ECONNABORTED", "ENETDOWN", "ENETUNREACH", "EREMOTEIO", "ENOLINK",
        "ESHUTDOWN", "EPIPE", "EAGAIN", "EINTR", "ENOMEDIUM",
    ) if hasattr(errno, n)
)


def transient_os_error(e: BaseException) -> str | None:
    """'EIO: Input/output error' when `e` is an OS-level read error worth retrying later, else None.

    PyAV raises errno-mapped FFmpeg errors as subclasses of the builtin OSError (av.error.OSError,
    av.error.FileNotFoundError, ...); damaged data comes as InvalidDataError/EOFError instead."""
    if isinstance(e, OSError) and e.errno in TRANSIENT_ERRNOS:
        return f"{errno.errorcode.get(e.errno, e.errno)}: {os.strerror(e.errno)}"
    return None
