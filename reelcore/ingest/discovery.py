"""Compare disk with the catalog: what is new, changed, moved, gone, or unavailable.

Used by `reelfind index` and by the daemon's startup and periodic reconcile scans. Deletions are
only ever applied when the file's root is present: an unmounted share never loses its vectors.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..config import DEFAULT_EXCLUDE, VIDEO_EXTENSIONS
from ..storage.catalog import DELETE_VIDEO, FAILED, INDEXED, PENDING, SET_PATH, Catalog, FileRecord, new_video_id
from ..storage.reuse import copy_video
from ..storage.store import FrameStore, Thumbnails
from .filetype import special_file_reason
from .fingerprint import fingerprint
from .roots import offline_reason, root_present

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Root:
    """A folder whose files are indexed, with the name filters that decide what is footage."""

    path: Path
    include: Sequence[str] = tuple(VIDEO_EXTENSIONS)
    exclude: Sequence[str] = tuple(DEFAULT_EXCLUDE)

    def wants(self, path: Path) -> bool:
        """True for a file name that looks like footage and is not hidden/temporary/partial."""
        try:
            rel = path.relative_to(self.path)
        except ValueError:
            return False
        if any(_match(part, self.exclude) for part in rel.parts):
            return False
        return _match(path.name, self.include)


def _match(name: str, patterns: Iterable[str]) -> bool:
    return _compiled(tuple(patterns)).match(name.lower()) is not None


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for a set of globs (fnmatchcase of each, lower-cased): a scan tests every file
    name and folder name against ~25 patterns, the bulk of a no-op rerun's scan time."""
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns) or r"(?!)")


def confirmed_gone(path: str) -> bool:
    """True only when the file system says the path does not exist (ENOENT/ENOTDIR).

    Any other error (EACCES on a folder, EIO/ESTALE on a flaky share) proves nothing: the file may
    well be there, so its vectors must stay. `os.path.exists` would say False for all of them."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def utf8_name(path: str) -> bool:
    """The path is valid UTF-8. Names in another encoding (an old SMB/NFS share in Latin-1) arrive
    with surrogate escapes that SQLite, Chroma and JSON cannot store: such a file is reported, not
    indexed, and must never stop the scan of the files after it."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def inside_root(path: Path, root: Path) -> bool:
    """The file really lives inside the root: a symlink placed in a root may not pull in a file from
    elsewhere (its frames would be served to MCP clients as if it were footage of the root)."""
    try:
        real = Path(os.path.realpath(path))
        return real.is_relative_to(os.path.realpath(root))
    except (OSError, ValueError):
        return False


def walk(root: Root) -> Iterator[Path]:
    """Footage files under a root (symlinked directories are not followed: no loops)."""
    for dirpath, dirnames, filenames in os.walk(root.path, onerror=lambda e: log.warning("cannot list %s", e)):
        dirnames[:] = sorted(d for d in dirnames if not _match(d, root.exclude))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if root.wants(p):
                yield p


def heal_store_ops(catalog: Catalog, store: FrameStore, thumbs: Thumbnails) -> int:
    """Finish store work that committed catalog changes made due (a kill may have come between).

    Runs at the start of every reconcile and after each move, delete and finished re-index. Each op
    is decided from the catalog as it is NOW, so replaying one twice, or late, is harmless: a video
    id no row refers to loses its vectors and thumbnails; one a row refers to gets that row's path."""
    done = 0
    for op in catalog.pending_ops():
        owner = catalog.referring(op.video_id)
        if owner is None:
            store.delete_video(op.video_id)
            thumbs.delete_video(op.video_id)
        elif op.op == SET_PATH:
            store.set_path(op.video_id, owner.path)
        catalog.done_op(op.id)
        done += 1
    return done


@dataclass
class Plan:
    """What the reconcile decided; `todo` records need (re)indexing."""

    todo: list[FileRecord] = field(default_factory=list)
    unchanged: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed_unchanged: list[FileRecord] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    # FIFOs, sockets, devices, folders named like videos, dangling/looping links: never opened.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False  # should_stop() said stop: the scan is incomplete, nothing was deleted
    copied: list[str] = field(default_factory=list)

    def merge(self, other: Plan) -> None:
        """Add another scan's findings to this one (every field, so none is forgotten)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, mine or theirs if isinstance(mine, bool) else mine + theirs)


class Reconciler:
    """Applies disk facts to the catalog (moves, changes, deletions) and says what to index."""

    def __init__(self, catalog: Catalog, store: FrameStore, thumbs: Thumbnails, identity: str) -> None:
        self.catalog = catalog
        self.store = store
        self.thumbs = thumbs
        self.identity = identity

    def needs_index(self, rec: FileRecord) -> bool:
        return rec.state not in (INDEXED, FAILED) or rec.model_identity != self.identity

    def observe(self, path: Path, root: Path, plan: Plan | None = None,
                parent_inside: bool = False) -> FileRecord | None:
        """Bring one existing file's catalog row up to date; return it if it needs indexing.

        `parent_inside`: the caller knows the file's folder really lies inside the root (a walk
        from a checked folder, which follows no symlinked folders); then only a symlinked file
        needs the realpath check, which keeps a scan of a large share to one lstat per file."""
        plan = plan or Plan()
        spath = str(path)
        if not utf8_name(spath):
            shown = spath.encode("utf-8", "backslashreplace").decode()
            plan.unreadable.append((shown, "file name is not valid UTF-8 (rename the file): not indexed"))
            return None
        special = special_file_reason(path)
        if special is not None:
            # One line per scan; the row of a file that became a FIFO/link stays (not "gone").
            log.warning("%s: %s", spath, special)
            plan.skipped.append((spath, special))
            return None
        if (not parent_inside or os.path.islink(path)) and not inside_root(path, root):
            why = (f"a link to {os.path.realpath(path)}, outside the indexed folder {root}: not indexed "
                   "(index that file's real folder instead)")
            plan.unreadable.append((spath, why))
            old = self.catalog.get(spath)
            if old is not None:  # indexed before links were refused: stop serving its frames
                log.warning("%s links outside %s: dropping it from the index", spath, root)
                self.forget(old)
            return None
        try:
            st = path.stat()
        except OSError as e:
            plan.unreadable.append((spath, str(e)))
            return None
        rec = self.catalog.get(spath)
        if rec and rec.size == st.st_size and rec.mtime == st.st_mtime:
            if rec.unavailable:
                self.catalog.update(spath, unavailable=0)
            if rec.state == FAILED and rec.model_identity == self.identity:
                plan.failed_unchanged.append(rec)
                return None
            if not self.needs_index(rec):
                plan.unchanged += 1
                return None
            if rec.state == PENDING and rec.cursor_ms is None and self._copy_vectors(rec.fingerprint, rec):
                plan.copied.append(spath)  # a copy whose vector copy was cut short: copy again
                return None
            plan.todo.append(rec)
            return rec
        try:
            fp = fingerprint(path)
        except OSError as e:
            plan.unreadable.append((spath, f"cannot read: {e.strerror or e}"))
            return None
        if rec is None:
            moved_from = self._moved_source(fp, spath)
            if moved_from is not None:
                self._apply_move(moved_from, spath, str(root), st.st_mtime)
                plan.moved.append((moved_from.path, spath))
                rec = self.catalog.get(spath)
                assert rec is not None
                if self.needs_index(rec):
                    plan.todo.append(rec)
                    return rec
                return None
            rec = self.catalog.add(spath, str(root), st.st_size, st.st_mtime, fp)
            if self._copy_vectors(fp, rec):
                plan.copied.append(spath)
                return None
            plan.todo.append(rec)
            return rec
        if rec.fingerprint == fp:  # touched, not changed
            self.catalog.update(spath, mtime=st.st_mtime, size=st.st_size, unavailable=0)
            rec = self.catalog.get(spath)
            assert rec is not None
            if rec.state == FAILED:
                # A touched failed file is worth one more try.
                self.catalog.update(spath, state=PENDING, attempts=0, next_retry=None, short_reads=0)
                rec = self.catalog.get(spath)
            if rec and self.needs_index(rec):
                plan.todo.append(rec)
                return rec
            plan.unchanged += 1
            return None
        # Content changed: index under a new video_id; the old vectors go once the new ones are in.
        has_vectors = bool(rec.frames or rec.cursor_ms is not None)
        stale = rec.stale_video_id or (rec.video_id if has_vectors else None)
        # Changed again before the last change was fully indexed: the older, complete version stays
        # as the stale one; the partial vectors of the in-between version would otherwise be left
        # behind for good (never referenced again, still found by searches).
        orphan = rec.video_id if rec.stale_video_id and has_vectors else None
        # The orphan's deletion is recorded with the change itself: a crash right after the commit
        # is finished by the next reconcile (no ghost vectors of a version nobody refers to).
        self.catalog.update(
            spath, size=st.st_size, mtime=st.st_mtime, fingerprint=fp, video_id=new_video_id(),
            stale_video_id=stale, state=PENDING, error=None, note=None, frames=0, cursor_ms=None,
            attempts=0, next_retry=None, unavailable=0, short_at_ms=None, short_reads=0,
            intents=[(DELETE_VIDEO, orphan)] if orphan else (),
        )
        if orphan is not None:
            self.heal()
        rec = self.catalog.get(spath)
        assert rec is not None
        plan.todo.append(rec)
        return rec

    def _moved_source(self, fp: str, new_path: str) -> FileRecord | None:
        """A catalogued file with the same content whose old path no longer exists."""
        for cand in self.catalog.by_fingerprint(fp):
            if cand.path != new_path and confirmed_gone(cand.path) and root_present(Path(cand.root)):
                return cand
        return None

    def _copy_vectors(self, fp: str, rec: FileRecord) -> bool:
        """A copy of an already indexed file reuses its vectors instead of decoding and embedding."""
        src = next((c for c in self.catalog.by_fingerprint(fp)
                    if c.path != rec.path and c.state == INDEXED and c.model_identity == self.identity), None)
        if src is None:
            return False
        copied = copy_video(self.store, self.thumbs, src.video_id, src.frames, rec.video_id, rec.path)
        if copied is None:
            return False
        # A kill before this update leaves the row pending with the copies stored under its own
        # video id: the next scan copies again (same ids), or indexing overwrites them.
        stale = [(DELETE_VIDEO, rec.stale_video_id)] if rec.stale_video_id else []
        self.catalog.update(rec.path, state=INDEXED, frames=copied.frames, duration=src.duration,
                            note=src.note, cursor_ms=round(copied.last_t_start * 1000), model_identity=self.identity,
                            stale_video_id=None, intents=stale)
        if rec.stale_video_id:
            self.heal()
        log.info("copy of %s: %s reuses its %d frame vectors", src.path, rec.path, copied.frames)
        return True

    def _apply_move(self, rec: FileRecord, new_path: str, root: str, mtime: float) -> None:
        log.info("moved: %s -> %s (vectors kept)", rec.path, new_path)
        # The catalog move and the "fix the vectors' path" intent commit together; the vectors
        # follow. A crash between is finished by heal(), which sets the path the row has THEN (the
        # file may have moved again, or back, meanwhile).
        vids = [v for v in (rec.video_id, rec.stale_video_id) if v]
        self.catalog.move(rec.path, new_path, root, mtime, intents=[(SET_PATH, v) for v in vids])
        self.heal()

    def forget(self, rec: FileRecord) -> None:
        """A file confirmed gone (its root present): remove its row, then its vectors and thumbnails."""
        log.info("deleted: %s (removing %d frames)", rec.path, rec.frames)
        vids = [v for v in (rec.video_id, rec.stale_video_id) if v]
        self.catalog.remove(rec.path, intents=[(DELETE_VIDEO, v) for v in vids])
        self.heal()

    def heal(self) -> int:
        """Finish store work a kill interrupted (see heal_store_ops); the number of ops finished."""
        return heal_store_ops(self.catalog, self.store, self.thumbs)

    def reconcile(self, root: Root, scope: Path | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Plan:
        """Full scan of a root (or a folder inside it): new/changed/moved files and deletions.

        `should_stop` is called once per file (the daemon's heartbeat and SIGTERM check); when it
        returns True the scan ends early with `plan.interrupted` set and no deletions applied.
        """
        plan = Plan()
        scope = scope or root.path
        self.heal()  # store work a crash interrupted (moves, deletes): before anything reads the store
        if not self.root_available(root.path):
            return plan
        self.catalog.set_unavailable(str(root.path), False)
        seen: set[str] = set()
        walked = scope.is_dir()
        checked = walked and inside_root(scope, root.path)  # then walk() stays inside (no folder links)
        for p in walk(Root(scope, root.include, root.exclude)) if walked else [scope]:
            if should_stop is not None and should_stop():
                plan.interrupted = True
                return plan
            seen.add(str(p))
            self.observe(p, root.path, plan, parent_inside=checked)
        # New files were observed first so moves inside the scan match their old rows.
        # The root is checked again: a share that went away during the scan must delete nothing.
        gone = [rec for rec in (self.catalog.under(str(scope)) if scope.is_dir() else [])
                if rec.path not in seen and confirmed_gone(rec.path)]
        if gone and not self.root_available(root.path):
            return plan
        for rec in gone:
            self.forget(rec)
            plan.removed.append(rec.path)
        return plan

    def root_available(self, root: Path) -> bool:
        """The root can be listed and is not an empty mount point whose share went away (a root that
        is empty while the catalog lists files in it). If not, its files are marked unavailable."""
        why = offline_reason(root, lambda: bool(self.catalog.in_root(str(root))))
        if why is None:
            return True
        n = self.catalog.set_unavailable(str(root), True)
        log.warning("root %s is %s: %d files marked unavailable, nothing deleted", root, why, n)
        return False

    def file_gone(self, path: str) -> bool:
        """Event path: forget a deleted file only if its root is still present."""
        rec = self.catalog.get(path)
        if rec is None or not confirmed_gone(path):
            return False
        if not self.root_available(Path(rec.root)):
            return False
        self.forget(rec)
        return True
