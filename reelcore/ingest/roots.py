"""The one "is this root offline?" rule, used by discovery, the service's worker and its watcher.

A root is offline when it cannot be listed, when it was a mount point and no longer is (the
share went away and left its empty mount folder), or when it is empty while the catalog lists
files in it (an unmounted share whose mount point was never seen mounted). Offline roots have
their files marked unavailable; nothing is ever deleted because a root looks empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def root_present(root: Path) -> bool:
    """A root counts as present only if it is a directory we can list (a dead mount is not)."""
    try:
        with os.scandir(root):
            return True
    except OSError:
        return False


def offline_reason(root: Path, catalog_has_files: Callable[[], bool] | None = None,
                   was_mount: bool = False) -> str | None:
    """Why `root` must be treated as offline (a short phrase), or None when it is available.

    `catalog_has_files`: asked only when the root is empty (so a scan costs one extra listing);
    leave it out where the catalog is not at hand (the watcher's monitor): then an empty root
    counts as available there, and the worker, which has the catalog, applies the full rule.
    `was_mount`: the root was seen as a mount point before."""
    try:
        with os.scandir(root) as it:
            empty = next(it, None) is None
    except OSError:
        return "not available (unmounted or offline?)"
    if was_mount and not os.path.ismount(root):
        return "no longer a mount point (the share was unmounted)"
    if empty and catalog_has_files is not None and catalog_has_files():
        return "empty while the catalog lists files in it (an unmounted share?)"
    return None
