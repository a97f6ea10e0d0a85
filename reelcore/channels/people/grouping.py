"""Tracks -> people across the library, and the user's operations on people.

Incremental: a new track joins the person whose centroid (normalised mean of its track vectors)
is nearest, when closer than the threshold; otherwise it starts a new "Person N". A named person
is found in new footage this way with no extra step.

Names are anchors. Naming, merging and splitting pin the tracks they touch to their person;
`regroup` re-clusters the rest (average linkage under the threshold) around the pinned groups and
never merges two pinned groups (two people the user has told apart), so a re-grouping can move
unconfirmed tracks but never loses or moves a name.
"""

from __future__ import annotations

import difflib
import sqlite3
import time

import numpy as np

from .people_db import PeopleDB, PeopleError, Person, TrackRow, clean_name
from .tracks import FaceTrack, unit

MAX_REGROUP = 8000  # tracks in one re-grouping: an n x n float32 and an m x m float64 matrix (~0.8 GB)


def _centroids(rows: list[TrackRow]) -> dict[int, np.ndarray]:
    by: dict[int, list[np.ndarray]] = {}
    for r in rows:
        if r.person_id is not None:
            by.setdefault(r.person_id, []).append(r.vector)
    return {p: unit(np.mean(v, axis=0)) for p, v in by.items()}


def average_linkage(vectors: np.ndarray, groups: list[list[int]], anchored: list[bool],
                    threshold: float) -> list[list[int]]:
    """Merge groups of vectors while the closest pair's mean pairwise distance is under `threshold`;
    two anchored groups never merge. Returns the groups (lists of row indices)."""
    m = len(groups)
    if m < 2:
        return [list(g) for g in groups]
    if len(vectors) > MAX_REGROUP:
        raise PeopleError(f"{len(vectors)} face tracks are more than one re-grouping handles ({MAX_REGROUP})")
    v = np.asarray(vectors, np.float32)
    sq = (v * v).sum(axis=1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (v @ v.T), 0.0))  # n x n, float32
    member = np.zeros((m, len(v)), np.float32)
    for k, g in enumerate(groups):
        member[k, g] = 1.0 / len(g)
    c = (member @ d @ member.T).astype(np.float64)  # mean pairwise distance between groups
    del d
    size = np.array([len(g) for g in groups], dtype=np.float64)
    anch = np.array(anchored, dtype=bool)
    alive = np.ones(m, dtype=bool)
    members = [list(g) for g in groups]
    np.fill_diagonal(c, np.inf)
    c[np.ix_(anch, anch)] = np.inf
    # each row's nearest group, kept up to date: one merge costs O(m), not a scan of the matrix
    near = np.argmin(c, axis=1)
    best = c[np.arange(m), near]
    while True:
        i = int(np.argmin(best))
        j = int(near[i])
        if not np.isfinite(best[i]) or best[i] >= threshold:
            break
        if anch[j] and not anch[i]:
            i, j = j, i  # keep the anchored group's index
        merged = (size[i] * c[i] + size[j] * c[j]) / (size[i] + size[j])  # Lance-Williams, average linkage
        c[i, :], c[:, i] = merged, merged
        size[i] += size[j]
        anch[i] = anch[i] or anch[j]
        members[i] += members[j]
        alive[j] = False
        c[j, :], c[:, j] = np.inf, np.inf
        c[i, i] = np.inf
        if anch[i]:
            c[i, anch], c[anch, i] = np.inf, np.inf
        best[j] = np.inf
        # Rows whose nearest was i or j, and row i itself, look again. No other row can have come
        # nearer to the merged group: an average of two distances is never below both of them
        # (average linkage is reducible), and the anchor masks only ever raise distances.
        stale = np.flatnonzero(alive & ((near == i) | (near == j)))
        for k in (*stale.tolist(), i):
            near[k] = int(np.argmin(c[k]))
            best[k] = c[k, near[k]]
    return [members[k] for k in range(m) if alive[k]]


class People:
    """Grouping and the user's operations, over a PeopleDB."""

    def __init__(self, db: PeopleDB, threshold: float = 0.4) -> None:
        self.db = db
        self.threshold = threshold

    # ------------------------------------------------------------------ incremental

    def add(self, video_id: str, path: str, identity: str, tracks: list[FaceTrack]) -> list[int]:
        """Store a file's new tracks and give each a person. Returns the person id per track."""
        with self.db.tx() as db:
            ids = self.db.insert_tracks(db, video_id, path, identity, tracks)
            return self._assign(db, ids)

    def replace_video(self, video_id: str, path: str, identity: str, tracks: list[FaceTrack]) -> list[int]:
        """A file analysed again: its old tracks go, the new ones come, in one transaction. The people
        its old tracks belonged to are matched by their old faces, so 'Person 4' stays 'Person 4'."""
        with self.db.tx() as db:
            before = _centroids(self.db.tracks("WHERE person_id IS NOT NULL"))
            db.execute("DELETE FROM face_tracks WHERE video_id = ?", (video_id,))
            ids = self.db.insert_tracks(db, video_id, path, identity, tracks)
            out = self._assign(db, ids, before)
            self.db._drop_empty(db)
            return out

    def assign(self, track_ids: list[int]) -> list[int]:
        with self.db.tx() as db:
            return self._assign(db, track_ids)

    def _assign(self, db: sqlite3.Connection, track_ids: list[int],
                fallback: dict[int, np.ndarray] | None = None) -> list[int]:
        cents = _centroids(self.db.tracks("WHERE person_id IS NOT NULL"))
        live = {r[0] for r in db.execute("SELECT id FROM people")}
        for p, v in [*self.db.anchors().items(), *(fallback or {}).items()]:  # people whose tracks are gone
            if p in live:
                cents.setdefault(p, v)
        counts = {p.id: p.tracks for p in self.db.people()}
        out = []
        for tid in track_ids:
            v = self.db.track(tid).vector
            pid, dist = None, np.inf
            for p, cv in cents.items():
                dd = float(np.linalg.norm(cv - v))
                if dd < dist:
                    pid, dist = p, dd
            if pid is None or dist >= self.threshold:
                pid = self.db.new_person(db)
                cents[pid], counts[pid] = v, 0
            else:
                n = counts.get(pid, 0)
                cents[pid] = unit(cents[pid] * n + v)
            counts[pid] = counts.get(pid, 0) + 1
            db.execute("UPDATE face_tracks SET person_id = ? WHERE id = ?", (pid, tid))
            out.append(pid)
        return out

    # ------------------------------------------------------------------ re-grouping

    def regroup(self) -> int:
        """Re-cluster every unpinned track around the pinned groups. Returns how many tracks moved."""
        rows = self.db.tracks()
        if not rows:
            return 0
        vecs = np.stack([r.vector for r in rows])
        pinned: dict[int, list[int]] = {}
        loose: list[int] = []
        for k, r in enumerate(rows):
            if r.pinned and r.person_id is not None:
                pinned.setdefault(r.person_id, []).append(k)
            else:
                loose.append(k)
        anchors = list(pinned)
        groups = [pinned[p] for p in anchors] + [[k] for k in loose]
        flags = [True] * len(anchors) + [False] * len(loose)
        clusters = average_linkage(vecs, groups, flags, self.threshold)
        moved = 0
        anchors_v = self.db.anchors()
        with self.db.tx() as db:
            used: set[int] = set()
            plan: list[tuple[int | None, list[int]]] = []
            first_pinned = {pinned[p][0]: p for p in anchors}
            for members in clusters:  # anchored clusters first: they keep their person
                anchor = next((first_pinned[k] for k in members if k in first_pinned), None)
                plan.append((anchor, members))
                if anchor is not None:
                    used.add(anchor)
            for anchor, members in plan:
                pid = anchor
                if pid is None:  # reuse the old person most of these tracks had, if still free
                    votes: dict[int, int] = {}
                    for k in members:
                        if rows[k].person_id is not None and rows[k].person_id not in used:
                            votes[rows[k].person_id] = votes.get(rows[k].person_id, 0) + 1
                    pid = max(votes, key=lambda p: votes[p]) if votes else None
                    if pid is not None and self._named(db, pid):
                        # a named person takes unconfirmed tracks only when they look like its anchor
                        face = anchors_v.get(pid)
                        centre = unit(np.mean(vecs[members], axis=0))
                        if face is None or float(np.linalg.norm(centre - face)) >= self.threshold:
                            pid = None
                    if pid is None:
                        pid = self.db.new_person(db)
                    used.add(pid)
                for k in members:
                    if rows[k].person_id != pid:
                        moved += 1
                        db.execute("UPDATE face_tracks SET person_id = ? WHERE id = ?", (pid, rows[k].id))
            self.db._drop_empty(db)
        return moved

    @staticmethod
    def _named(db: sqlite3.Connection, pid: int) -> bool:
        row = db.execute("SELECT name FROM people WHERE id = ?", (pid,)).fetchone()
        return bool(row and row[0])

    # ------------------------------------------------------------------ the user's operations

    def name(self, pid: int, name: str) -> Person:
        """Name (or rename) a person; its current tracks are confirmed as this person."""
        n = clean_name(name)
        self.db.person(pid)
        other = self.db.by_name(n)
        if other is not None and other.id != pid:
            raise PeopleError(f"'{n}' is already Person {other.id}'s name: merge {pid} into {other.id} if they "
                              "are the same person")
        with self.db.tx() as db:
            db.execute("UPDATE people SET name = ?, named_at = ? WHERE id = ?", (n, time.time(), pid))
            db.execute("UPDATE face_tracks SET pinned = 1 WHERE person_id = ?", (pid,))
            self.db.set_anchor(db, pid)
        return self.db.person(pid)

    def merge(self, keep: int, other: int, drop_name: bool = False) -> Person:
        """`other`'s tracks become `keep`'s. When both carry different names the merge is refused
        unless `drop_name` says that `other`'s name may go: a name is never dropped silently."""
        a, b = self.db.person(keep), self.db.person(other)
        if a.id == b.id:
            raise PeopleError("cannot merge a person with itself")
        if a.name and b.name and not drop_name:
            raise PeopleError(f"both are named ('{a.name}' and '{b.name}'): merging keeps only '{a.name}'; "
                              "ask again with drop_name to drop the other name")
        with self.db.tx() as db:
            if b.name and not a.name:
                db.execute("UPDATE people SET name = NULL WHERE id = ?", (b.id,))
                db.execute("UPDATE people SET name = ?, named_at = ? WHERE id = ?", (b.name, time.time(), a.id))
            db.execute("UPDATE face_tracks SET person_id = ?, pinned = 1 WHERE person_id IN (?, ?)",
                       (a.id, a.id, b.id))
            db.execute("DELETE FROM people WHERE id = ?", (b.id,))
            if a.name or b.name:
                self.db.set_anchor(db, a.id)
        return self.db.person(a.id)

    def split(self, track_id: int) -> Person:
        """One track out of its person, into a new unnamed person. Both sides are pinned: the user
        said they are two people, so a re-grouping keeps them apart."""
        tr = self.db.track(track_id)
        with self.db.tx() as db:
            pid = self.db.new_person(db)
            db.execute("UPDATE face_tracks SET person_id = ?, pinned = 1 WHERE id = ?", (pid, tr.id))
            if tr.person_id is not None:
                db.execute("UPDATE face_tracks SET pinned = 1 WHERE person_id = ?", (tr.person_id,))
            self.db._drop_empty(db)
        return self.db.person(pid)

    def resolve(self, name: str) -> Person:
        """A person by name (case-insensitive) or 'Person N'; unknown: an error naming the closest."""
        n = " ".join(str(name).split())
        if n.lower().startswith("person ") and n[7:].strip().isdigit():
            return self.db.person(int(n[7:]))
        p = self.db.by_name(n)
        if p is not None:
            return p
        names = [q.name for q in self.db.people() if q.name]
        close = difflib.get_close_matches(n, names, n=3, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else (f"; known: {', '.join(names[:10])}" if names else
                                                               "; nobody is named yet")
        raise PeopleError(f"no person named '{n}'{hint}")
