"""PeopleChannel: the people channel behind the channel interface (reelcore.channels.base).

`analyse` is one decode pass of a file into face tracks (analyse.py); `commit` stores a file's
tracks and gives them people (grouping.py) in the people tables (people_db.py). A pass commits
once, at its end, in one transaction: a killed pass leaves nothing half-written and starts again
from the beginning (a face pass is a few times the decode time, so no cursor is kept).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...media.decode import DecodeError
from ..base import WHO, Analysis, Channel, ChannelError, OnRecords, RecordSink
from .analyse import analyse_file
from .engine import EngineError, shared_engine
from .grouping import People
from .people_db import PeopleDB
from .settings import PeopleSettings
from .store import FaceStore
from .tracks import FaceTrack

DB_NAME = "people.sqlite3"


@dataclass
class PeopleAnalysis(Analysis):
    """Analysis of the people channel: its records are face tracks, not transcript segments."""

    tracks: list[FaceTrack] = field(default_factory=list)
    faces: int = 0


class PeopleChannel(Channel):
    name = "people"
    evidence = WHO
    needs = ("frames",)

    def __init__(self, settings: PeopleSettings, data_dir: str | Path, prefix: str = "reelfind",
                 where: str = "the vector store") -> None:
        self.s = settings
        self.data_dir = Path(data_dir)
        self.prefix, self.where = prefix, where  # the store's collection prefix, and where it is (errors)
        self._db: PeopleDB | None = None
        self._db_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.s.enabled

    @property
    def identity(self) -> str:
        return self.s.identity

    def db(self) -> PeopleDB:
        with self._db_lock:
            if self._db is None:
                self._db = PeopleDB(self.data_dir / DB_NAME)
            return self._db

    def people(self) -> People:
        return People(self.db(), self.s.match_threshold)

    def analyse(self, path: str, stop: threading.Event, resume_at: float = 0.0,
                on_records: OnRecords | None = None) -> PeopleAnalysis:
        try:
            engine = shared_engine(self.s.detector, self.s.upsample)
            found = analyse_file(path, engine, self.s, stop)
        except (EngineError, DecodeError) as e:
            raise ChannelError(str(e)) from e
        return PeopleAnalysis(seconds=found.seconds, note=found.note, complete=found.complete,
                              tracks=found.tracks, faces=found.faces)

    def commit(self, video_id: str, path: str, an: PeopleAnalysis, store: FaceStore | None = None) -> list[int]:
        """Replace a file's tracks with this pass's and give each a person. Returns person ids.
        The vector store first: a failure there (StoreError) leaves the people tables as they were."""
        if store is not None:
            store.replace_video(video_id, path, an.tracks)
        return self.people().replace_video(video_id, path, self.identity, an.tracks)

    def remove_video(self, video_id: str, store: FaceStore | None = None) -> int:
        if store is not None:
            store.delete_video(video_id)
        return self.db().remove_video(video_id)

    def store(self, client: Any, prefix: str, where: str = "the vector store") -> FaceStore:
        """This identity's collection on the frame store's Chroma client."""
        return FaceStore(client, prefix, self.identity, where)

    def forget(self, client: Any = None, prefix: str = "reelfind") -> None:
        """Every face vector, crop and name (`reelfind forget --channel people`): every people
        collection of every identity on `client`, and the people tables."""
        if client is not None:
            for c in client.list_collections():
                name = str(getattr(c, "name", c))
                if name.startswith(f"{prefix}-people-"):
                    client.delete_collection(name)
        self.db().forget()

    def sink(self, frame_store: Any) -> PeopleSink:
        return PeopleSink(self, frame_store)


class PeopleSink(RecordSink):
    """Track vectors into Chroma, tracks and people into people_db. A face pass commits once, at its
    end (not resumable): the vector store first, then the people tables in one transaction."""

    def __init__(self, channel: PeopleChannel, frame_store: Any) -> None:
        self.channel, self.frame_store = channel, frame_store
        self._store: FaceStore | None = None

    def _faces(self) -> FaceStore:
        if self._store is None:
            self._store = self.channel.store(self.frame_store._client, self.channel.prefix, self.channel.where)
        return self._store

    def commit(self, video_id: str, path: str, analysis: PeopleAnalysis, prior: list[Any]) -> int:
        self.channel.commit(video_id, path, analysis, self._faces())
        return len(analysis.tracks)

    def delete_video(self, video_id: str) -> None:
        self.channel.remove_video(video_id, self._faces())

    def forget(self) -> None:
        self.channel.forget(self.frame_store._client, self.channel.prefix)
