"""ChromaDB access: one cosine collection per model identity, vectors always passed explicitly."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from PIL import Image

from ..config import Settings
from ..lazymod import numpy as np  # loaded on first use: a no-op `reelfind index` needs no arrays

log = logging.getLogger(__name__)

COUNT_TTL = 5.0  # seconds a count() result is reused (other processes' writes show up after this)
# Ids per get/update/upsert call. Embedded Chroma 1.5.9 reads metadata with one SQL variable per id
# (SQLite allows 32,766: a `where` get of a 9-hour video at 1 fps fails with "too many SQL
# variables") and takes at most 5,461 records per write; a page stays under both.
PAGE = 5000
# Video ids per `$in` filter of a query. Embedded Chroma binds one SQL variable per id too (a
# path_glob matching 40,000 videos failed with "too many SQL variables"): a longer list is queried
# in parts whose nearest frames are merged (exactly the nearest of the whole list).
IN_CHUNK = 30_000
WIDE = 4  # how much more a broad filter first asks for unfiltered (see FrameStore._query_many)


class StoreError(Exception):
    """The vector store cannot be reached or used; message says what to check."""


@dataclass(frozen=True)
class FrameRecord:
    """One stored frame vector's metadata (and score when it came from a query)."""

    id: str
    video_id: str
    path: str
    t_start: float
    t_end: float
    shot: int
    score: float = 0.0


class _GuardedCollection:
    """A Chroma collection whose outage errors become StoreError.

    A store that cannot be reached is not the file's fault: the indexer must not mark files failed
    (and burn their retries) while Chroma is down, so callers see one distinct exception type.
    """

    def __init__(self, collection: Any, where: str) -> None:
        self._c = collection
        self._where = where

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._c, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except _outage_errors() as e:
                raise StoreError(f"the vector store at {self._where} failed: {type(e).__name__}: {e}") from e

        return call


def _outage_errors() -> tuple[type[BaseException], ...]:
    import httpx
    from chromadb.errors import InternalError

    return (httpx.TransportError, ConnectionError, TimeoutError, InternalError)


def collection_name(prefix: str, identity: str) -> str:
    """A valid Chroma name (<= 63 chars, alphanumeric ends), unique per identity even when shortened."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{prefix}-{identity}")
    if len(name) > 63:
        digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
        name = f"{name[:54]}-{digest}"
    name = name.strip("._-")
    return name if len(name) >= 3 else f"{name}rf0"


def frame_id(video_id: str, t_start: float) -> str:
    return f"{video_id}:{round(t_start * 1000)}"


def _make_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    url = settings.store.url
    if url:
        u = urlparse(url if "://" in url else f"http://{url}")
        if not u.hostname:
            raise StoreError(f"store.url is not a URL: {url!r} (expected http://host:port)")
        try:
            return chromadb.HttpClient(
                host=u.hostname,
                port=u.port or (443 if u.scheme == "https" else 8000),
                ssl=u.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as e:
            raise StoreError(f"cannot reach the Chroma server at {url}: {e}") from e
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


class FrameStore:
    """Frame vectors of one model identity."""

    page: int = PAGE  # records per get/write call (a class default: tests set a small one)
    in_chunk: int = IN_CHUNK  # video ids per `$in` filter of a query

    def __init__(self, settings: Settings, identity: str) -> None:
        self.settings = settings
        self.identity = identity
        self.name = collection_name(settings.store.collection_prefix, identity)
        self._client = _make_client(settings)
        self._count: tuple[float, int] | None = None  # (monotonic time, count): see count()
        s = settings.store
        collection = self._client.get_or_create_collection(
            name=self.name,
            embedding_function=None,
            configuration={
                "hnsw": {
                    "space": s.hnsw_space,
                    "max_neighbors": s.hnsw_m,
                    "ef_construction": s.hnsw_construction_ef,
                    "ef_search": s.hnsw_search_ef,
                    "batch_size": s.hnsw_batch_size,
                    "sync_threshold": s.hnsw_sync_threshold,
                }
            },
            metadata={"model_identity": identity},
        )
        self._collection = _GuardedCollection(collection, settings.store.url or str(settings.chroma_dir))
        self._apply_search_ef(s.hnsw_search_ef)

    def _apply_search_ef(self, ef: int) -> None:
        """ef_search is the one HNSW setting that can change after creation: bring an existing
        collection to the configured value (it takes effect when a process loads the index)."""
        try:
            hnsw = (getattr(self._collection, "configuration_json", None) or {}).get("hnsw") or {}
            if hnsw and hnsw.get("ef_search") != ef:
                self._collection.modify(configuration={"hnsw": {"ef_search": ef}})
                log.info("collection %s: ef_search %s -> %d", self.name, hnsw.get("ef_search"), ef)
        except Exception as e:  # an older server or a read-only one: searching still works
            log.warning("cannot set ef_search=%d on collection %s: %s", ef, self.name, e)

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> None:
        if not records:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        for lo in range(0, len(records), self.page):
            part = records[lo : lo + self.page]
            self._collection.upsert(
                ids=[r.id for r in part],
                embeddings=vectors[lo : lo + self.page],
                metadatas=[
                    {"video_id": r.video_id, "path": r.path, "t_start": r.t_start, "t_end": r.t_end,
                     "shot": r.shot}
                    for r in part
                ],
            )
        self._count = None  # after the write: a count() racing with it must not cache the old value

    def delete_video(self, video_id: str) -> None:
        self._collection.delete(where={"video_id": video_id})
        self._count = None

    def delete_ids(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), self.page):
            self._collection.delete(ids=ids[i : i + self.page])
        self._count = None

    def set_path(self, video_id: str, path: str) -> None:
        """A renamed/moved file keeps its vectors; only the path metadata changes."""
        for got in self._pages({"video_id": video_id}, ["metadatas"]):
            metas = [{**m, "path": path} for m in got["metadatas"]]
            self._collection.update(ids=got["ids"], metadatas=metas)

    def close(self) -> None:
        """Release the client (the last close of a path stops Chroma's shared system for it)."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    # -- reads ------------------------------------------------------------------------------
    def sample_vectors(self, n: int) -> np.ndarray:
        """Up to n vectors spread over the collection (64 random windows), e.g. a query's background."""
        total = self.count()
        if total == 0:
            return np.zeros((0, 0), np.float32)
        if total <= n:
            spans = [(o, 5000) for o in range(0, total, 5000)]
        else:
            windows = 64
            per = max(1, n // windows)
            rng = np.random.default_rng(total)
            starts = rng.choice(total - per + 1, size=min(windows, total - per + 1), replace=False)
            spans = [(int(o), per) for o in sorted(starts)]
        chunks = []
        for offset, limit in spans:
            got = self._collection.get(include=["embeddings"], limit=limit, offset=offset)
            if len(got["embeddings"]):
                chunks.append(np.asarray(got["embeddings"], dtype=np.float32))
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)

    def count(self) -> int:
        """Number of vectors. Cached for COUNT_TTL seconds (dropped on this store's own writes):
        Chroma counts with a full scan, ~55 ms at 1M vectors, and queries ask for it every time."""
        now = time.monotonic()
        cached = self._count
        if cached is not None and now - cached[0] < COUNT_TTL:
            return cached[1]
        n = self._collection.count()
        self._count = (now, n)
        return n

    def ids_for_video(self, video_id: str) -> list[str]:
        return list(self._collection.get(where={"video_id": video_id}, include=[])["ids"])

    def _pages(self, where: dict[str, Any], include: list[str]) -> Iterator[dict[str, Any]]:
        """Everything a `where` matches, `self.page` ids per get (see PAGE). A small result (a time
        window) takes one get; a larger one is read as its ids (an ids-only get has no variable
        limit), then their fields by id, which pages consistently while other writes go on."""
        first = self._collection.get(where=where, include=include, limit=self.page + 1)
        if len(first["ids"]) <= self.page:  # (a full window of frames.CHUNK_FRAMES is one get)
            if first["ids"]:
                yield first
            return
        ids = self._collection.get(where=where, include=[])["ids"]
        for lo in range(0, len(ids), self.page):
            got = self._collection.get(ids=ids[lo : lo + self.page], include=include)
            if got["ids"]:  # a page deleted meanwhile (re-index, move) just yields nothing
                yield got

    def _sorted_frames(self, where: dict[str, Any],
                       with_vectors: bool) -> tuple[list[FrameRecord], np.ndarray | None]:
        include = ["metadatas", "embeddings"] if with_vectors else ["metadatas"]
        recs: list[FrameRecord] = []
        chunks: list[np.ndarray] = []
        for got in self._pages(where, include):
            recs.extend(_record(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True))
            if with_vectors:
                chunks.append(np.asarray(got["embeddings"], dtype=np.float32))
        order = sorted(range(len(recs)), key=lambda k: recs[k].t_start)
        recs = [recs[k] for k in order]
        vecs = None
        if with_vectors:
            vecs = np.concatenate(chunks)[order] if recs else np.zeros((0, 0), np.float32)
        return recs, vecs

    def video_pages(self, video_id: str) -> Iterator[tuple[list[FrameRecord], np.ndarray]]:
        """A video's frames and vectors, at most `self.page` at a time, in no particular order: for
        work on every frame (a copy) without holding a long video's vectors all at once."""
        for got in self._pages({"video_id": video_id}, ["metadatas", "embeddings"]):
            recs = [_record(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)]
            yield recs, np.asarray(got["embeddings"], dtype=np.float32)

    def video_frames(self, video_id: str, with_vectors: bool = False) -> tuple[list[FrameRecord], np.ndarray | None]:
        """All frames of a video sorted by time (and their vectors, same order, if asked)."""
        return self._sorted_frames({"video_id": video_id}, with_vectors)

    # Read side, bounded: one row per video, or one video's frames in a time window.
    def video_heads(self, page: int = 5000) -> list[FrameRecord]:
        """The first frame (t_start 0) of every stored video: which videos the store holds and their
        paths, one row per video instead of one per frame (with a shared server, also other machines')."""
        out: list[FrameRecord] = []
        offset = 0
        while True:
            got = self._collection.get(where={"t_start": 0.0}, include=["metadatas"], limit=page, offset=offset)
            out.extend(_record(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True))
            if len(got["ids"]) < page:
                return out
            offset += page

    def video_head(self, video_id: str | None = None, path: str | None = None) -> FrameRecord | None:
        """The first frame of a stored video found by id or by path (None if the store has none)."""
        key = {"video_id": video_id} if video_id is not None else {"path": path}
        got = self._collection.get(where={"$and": [key, {"t_start": 0.0}]}, include=["metadatas"], limit=1)
        return _record(got["ids"][0], got["metadatas"][0]) if got["ids"] else None

    def frames_between(self, video_id: str, t0: float | None = None, t1: float | None = None,
                       with_vectors: bool = False) -> tuple[list[FrameRecord], np.ndarray | None]:
        """Frames of a video with t0 <= t_start < t1 (either bound optional), sorted by time: lets long
        videos be read in windows instead of all their vectors at once."""
        clauses: list[dict[str, Any]] = [{"video_id": video_id}]
        if t0 is not None:
            clauses.append({"t_start": {"$gte": float(t0)}})
        if t1 is not None:
            clauses.append({"t_start": {"$lt": float(t1)}})
        flt = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        return self._sorted_frames(flt, with_vectors)

    def query(
        self,
        vector: np.ndarray,
        n: int,
        video_ids: Sequence[str] | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[FrameRecord]:
        """Nearest frames by cosine; score = cosine similarity (1 - distance). `video_ids` limits
        the search to those videos (any number: see IN_CHUNK)."""
        if video_ids is None:
            return self._query(vector, n, where)
        ids = list(video_ids)
        if len(ids) > self.in_chunk:
            return self._query_many(vector, n, ids, where)
        if not ids:
            return []
        part = {"video_id": {"$in": ids}}
        return self._query(vector, n, {"$and": [part, where]} if where else part)

    def _query_many(self, vector: np.ndarray, n: int, ids: list[str],
                    where: dict[str, Any] | None) -> list[FrameRecord]:
        """A filter over more videos than one `$in` may name (a broad glob). First the nearest
        WIDE * n frames with no video filter: if n of them are in `ids` (or that was every frame),
        they are the answer. Else the list is queried in parts and their nearest merged."""
        wanted = set(ids)
        wide = self._query(vector, WIDE * n, where)
        hits = [h for h in wide if h.video_id in wanted]
        if len(hits) >= n or len(wide) < WIDE * n:
            return hits[:n]
        hits = []
        for lo in range(0, len(ids), self.in_chunk):
            part: dict[str, Any] = {"video_id": {"$in": ids[lo : lo + self.in_chunk]}}
            hits.extend(self._query(vector, n, {"$and": [part, where]} if where else part))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:n]

    def _query(self, vector: np.ndarray, n: int, flt: dict[str, Any] | None) -> list[FrameRecord]:
        q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        try:
            # Chroma returns fewer results when n exceeds the collection (none when it is empty),
            # so no count() first: that is a full scan, slower than the HNSW search itself at 1M.
            res = self._collection.query(query_embeddings=q, n_results=max(1, n), where=flt,
                                         include=["metadatas", "distances"])
        except Exception:
            total = self._collection.count()
            if total == 0:
                return []
            res = self._collection.query(query_embeddings=q, n_results=max(1, min(n, total)), where=flt,
                                         include=["metadatas", "distances"])
        return [
            _record(i, m, 1.0 - float(d))
            for i, m, d in zip(res["ids"][0], res["metadatas"][0], res["distances"][0], strict=True)
        ]


def _record(fid: str, m: dict[str, Any], score: float = 0.0) -> FrameRecord:
    return FrameRecord(
        id=fid,
        video_id=str(m["video_id"]),
        path=str(m["path"]),
        t_start=float(m["t_start"]),
        t_end=float(m["t_end"]),
        shot=int(m.get("shot", 0)),
        score=score,
    )


class Thumbnails:
    """Small JPEG previews beside the store: thumbs/<video_id>/<t_ms>.jpg (independent of the model)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, video_id: str, t_start: float) -> Path:
        return self.root / video_id / f"{round(t_start * 1000)}.jpg"

    def save(self, video_id: str, t_start: float, image: Image.Image, quality: int = 80) -> Path:
        p = self.path(video_id, t_start)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        image.convert("RGB").save(tmp, "JPEG", quality=quality)
        tmp.replace(p)
        return p

    def delete_video(self, video_id: str) -> None:
        shutil.rmtree(self.root / video_id, ignore_errors=True)
