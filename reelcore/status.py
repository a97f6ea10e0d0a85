"""The one status builder: what the index holds and, inside the service, what it is doing.

Every face reads this: `reelfind status` (CLI), GET /status of `reelfind serve`, the MCP
`index_status` tool and the systemd STATUS= line (`status_line`). The live parts (queue, current
job, roots as the watcher sees them) are known only to the service; it passes them in as a plain
`Live` value, so this module knows no service and no protocol (docs/architecture.md).

Reads the catalog (SQLite in WAL mode is safe to read beside a writer). `collect_status` (the CLI)
never opens an embedded Chroma store that a running service owns: the frame count then comes from
the catalog, and live progress from the service's own status endpoint.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Settings
from .models import FailedOut, StatusOut
from .storage.catalog import FAILED, INDEXED, Catalog

if TYPE_CHECKING:  # type only
    from .query.readdeps import StatusSource

MAX_FAILED = 100  # failed files listed in a status (the counts are always complete)


@dataclass
class Live:
    """What only a running service knows, handed to the builder as plain data."""

    state: str = "running"  # starting | waiting | running | stopping
    pid: int = field(default_factory=os.getpid)
    uptime_s: float = 0.0
    job: str | None = None  # e.g. "scanning /footage" when the worker is not indexing a file
    waiting: str | None = None  # what start-up waits for, e.g. the model download (retrying)
    queued: int = 0
    settling: int = 0
    progress: dict[str, Any] = field(default_factory=dict)  # reelcore.channels.visual.indexer.Progress.snapshot()
    roots: list[dict[str, Any]] = field(default_factory=list)  # the watcher's view of each root
    recent: list[dict[str, Any]] = field(default_factory=list)  # last finished files
    unavailable: dict[str, str] = field(default_factory=dict)  # channel -> why its engine cannot run now


def current_file(progress: dict[str, Any]) -> dict[str, Any] | None:
    """The file being indexed, from a Progress snapshot (None when idle)."""
    path = progress.get("current_path")
    if not path:
        return None
    t, dur = float(progress.get("current_t") or 0.0), progress.get("current_duration")
    frac = min(1.0, t / dur) if dur else None
    return {"path": path, "t": round(t, 2), "duration": dur, "fraction": None if frac is None else round(frac, 3)}


def build_status(settings: Settings, catalog: Catalog, *, identity: str, vectors: int | None = None,
                 live: Live | None = None, model_loaded: bool | None = None,
                 device: str | None = None, detail: bool = True) -> dict[str, Any]:
    """The status as JSON-safe data. `vectors`: the store's count (None: take the catalog's frame
    count, for a reader that must not open the store). `detail=False` leaves out the failed and
    warning lists (the STATUS= line, sent every few seconds, needs only the counts)."""
    counts = catalog.counts()
    failed = [{"path": r.path, "reason": r.error, "attempts": r.attempts, "next_retry": r.next_retry}
              for r in catalog.all(FAILED, limit=MAX_FAILED)] if detail else []
    warnings = [{"path": r.path, "note": r.note} for r in catalog.noted(INDEXED)] if detail else []  # SQL-filtered
    st: dict[str, Any] = {
        "model_identity": identity, "model_loaded": model_loaded, "device": device,
        "store": settings.store.url or str(settings.chroma_dir), "data_dir": str(settings.data_dir),
        "vectors": counts["frames"] if vectors is None else vectors, "counts": counts,
        "failed": failed, "warnings": warnings, "roots": [str(r.path) for r in settings.roots],
        "channels": channel_counts(settings, catalog, counts, identity),
    }
    if live is not None:
        d = asdict(live)
        st.update(pid=d["pid"], state=d["state"], uptime_s=round(d["uptime_s"], 1), waiting=d["waiting"],
                  queue={"queued": d["queued"], "settling": d["settling"]}, current=current_file(d["progress"]),
                  progress=d["progress"], recent=d["recent"], job=d["job"])
        if d["roots"]:
            st["roots"] = d["roots"]
        mark_unavailable(st, d["unavailable"])
        st["status"] = status_line(st)
    return st


def mark_unavailable(st: dict[str, Any], unavailable: dict[str, str] | None) -> None:
    """Say per channel why its engine cannot run now (the service's worker knows; e.g. a model that
    cannot be downloaded yet and is retried with backoff)."""
    for name, why in (unavailable or {}).items():
        if name in st["channels"]:
            st["channels"][name]["unavailable"] = why


def channel_counts(settings: Settings, catalog: Catalog, counts: dict[str, int], identity: str) -> dict[str, Any]:
    """Per channel: files done / to do / failed and media seconds left (the visual one from `counts`)."""
    from .channels.registry import all_channels
    from .channels.state import ChannelStates

    out: dict[str, Any] = {"visual": {"enabled": True, "identity": identity, "indexed": counts.get("indexed", 0),
                                      "pending": counts.get("pending", 0) + counts.get("indexing", 0),
                                      "failed": counts.get("failed", 0)}}
    for ch in all_channels(settings):
        got: dict[str, Any] = {"enabled": ch.enabled, "identity": ch.identity}
        if ch.enabled:
            got.update(ChannelStates(catalog, ch.name).counts(ch.identity))
        out[ch.name] = got
    return out


_MEDIA = {"speech": "audio"}  # what a channel's seconds left are of (else "video")


def _channels_part(st: dict[str, Any]) -> list[str]:
    """'speech: 120/300 files, 4.2 h of audio left' per enabled non-visual channel with files."""
    parts = []
    for name, ch in (st.get("channels") or {}).items():
        if name == "visual" or not ch.get("enabled") or not ch.get("files"):
            continue
        left = float(ch.get("seconds_left") or 0)
        media = _MEDIA.get(name, "video")
        tail = f", {left / 3600:.1f} h of {media} left" if left >= 360 else \
            f", {left / 60:.0f} min of {media} left" if left else ""
        failed = f", {ch['failed']} failed" if ch.get("failed") else ""
        held = f", not running: {ch['unavailable']}" if ch.get("unavailable") else ""
        parts.append(f"{name}: {ch['indexed']}/{ch['files']} files{failed}{tail}{held}")
    return parts


def status_line(st: dict[str, Any]) -> str:
    """One line for `systemctl status` (STATUS=) from a `build_status` result."""
    cur = st.get("current")
    if st.get("waiting"):
        doing = st["waiting"]
    elif cur:
        dur = f"/{cur['duration']:.0f}" if cur.get("duration") else ""
        doing = f"indexing {Path(cur['path']).name} {cur['t']:.0f}{dur} s"
    else:
        doing = st.get("job") or "idle"
    q = st.get("queue") or {}
    c = st["counts"]
    parts = [doing, f"{q.get('queued', 0)} queued, {q.get('settling', 0)} settling",
             f"{c.get('indexed', 0)} indexed, {c.get('failed', 0)} failed"]
    if c.get("unavailable"):
        parts[-1] += f", {c['unavailable']} unavailable"
    parts += _channels_part(st)
    offline = [r["path"] for r in st.get("roots") or [] if isinstance(r, dict) and not r.get("present", True)]
    if offline:
        parts.append("offline: " + ", ".join(offline))
    return "; ".join(parts)


def index_status(svc: StatusSource, current: dict[str, Any] | None) -> StatusOut:
    """The MCP `index_status` answer: the same builder, as the tool's output model."""
    # A store not connected yet (reelcore.runtime.LazyFrameStore: the service's first seconds) is
    # counted from the catalog, so this answers at once instead of waiting for chromadb's import.
    vectors = svc.store.count() if getattr(svc.store, "opened", True) else None
    st = build_status(svc.settings, svc.catalog, identity=svc.embedder.identity, vectors=vectors,
                      model_loaded=svc.embedder.loaded, device=svc.embedder.device)
    mark_unavailable(st, (current or {}).get("unavailable"))
    return StatusOut(model_identity=st["model_identity"], model_loaded=bool(st["model_loaded"]),
                     device=st["device"] or "", vectors=st["vectors"], counts=st["counts"], current=current,
                     failed=[FailedOut(path=f["path"], reason=f["reason"], attempts=f["attempts"])
                             for f in st["failed"][:50]],
                     roots=st["roots"], store=st["store"], channels=st.get("channels"))


def _data_size(settings: Settings) -> int:
    """Bytes of the catalog and the embedded vector store. Bounded work: thumbnails (one file per
    indexed frame, millions on a big index) are not walked, so they are not counted."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.stat(f"{settings.catalog_path}{suffix}").st_size
    return total + (_dir_size(settings.chroma_dir) if settings.chroma_dir.is_dir() else 0)


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def collect_status(settings: Settings, service: dict[str, Any] | None = None) -> dict[str, Any]:
    """`reelfind status`: the builder over a read-only look at the catalog, plus the service's live
    status (GET /status) when one runs."""
    from .channels.visual.embedder import Embedder  # function-level: keeps torch/open_clip out of a plain import

    identity = Embedder(settings.model).identity
    catalog = Catalog(settings.catalog_path)
    try:
        st = build_status(settings, catalog, identity=identity)
    finally:
        catalog.close()
    st["counts"] = {k: v for k, v in st["counts"].items() if k != "frames"}  # "vectors" says it
    st["data_bytes"] = _data_size(settings)  # catalog + vector store; thumbnails not walked
    st["service"] = service
    mark_unavailable(st, {n: c["unavailable"] for n, c in ((service or {}).get("channels") or {}).items()
                          if isinstance(c, dict) and c.get("unavailable")})
    return st
