"""The people channel: real dlib weights on the ASL clips, and the user's operations on people.

Ground truth for the ASL clips (how it was established: frames 10 of each clip looked at side by
side, and the MANIFEST notes): asl_book.mkv and asl_walk.mkv show the same signer (a woman in a
mustard-yellow hoodie with a lanyard), asl_eat_vfr.mp4 a different one (a young man in a black
patterned jacket). Measured distances between the track vectors (unit length): book-walk 0.15,
book-eat 0.43, walk-eat 0.43.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from reelcore.channels.people.analyse import analyse_file, sampling_for
from reelcore.channels.people.engine import frontalness, shared_engine
from reelcore.channels.people.grouping import People, average_linkage
from reelcore.channels.people.people_db import MIGRATIONS, SCHEMA_VERSION, PeopleDB, PeopleError, migrate
from reelcore.channels.people.settings import PeopleSettings
from reelcore.channels.people.tracks import FaceTrack, unit
from tests.conftest import FOOTAGE

SAME_SIGNER = ("asl_book.mkv", "asl_walk.mkv")
OTHER_SIGNER = "asl_eat_vfr.mp4"


@pytest.fixture(scope="module")
def asl_tracks() -> dict[str, list[FaceTrack]]:
    s = PeopleSettings(sample_fps=2.0)
    eng = shared_engine(s.detector, s.upsample)
    return {f: analyse_file(str(FOOTAGE / f), eng, s).tracks for f in (*SAME_SIGNER, OTHER_SIGNER)}


def test_real_engine_groups_the_asl_signers_across_clips(asl_tracks, tmp_path):
    for f, tracks in asl_tracks.items():
        assert len(tracks) == 1, f"{f}: one signer, one shot -> one track, got {len(tracks)}"
        t = tracks[0]
        assert t.vector.shape == (128,) and abs(float(np.linalg.norm(t.vector)) - 1) < 1e-4
        assert t.crop[:2] == b"\xff\xd8" and t.frames >= 3 and t.end > t.start
    people = People(PeopleDB(tmp_path / "p.sqlite3"), PeopleSettings().match_threshold)
    pid = {f: people.add(f, f, "test", tracks)[0] for f, tracks in asl_tracks.items()}
    assert pid[SAME_SIGNER[0]] == pid[SAME_SIGNER[1]], "the same signer in two clips must be one person"
    assert pid[OTHER_SIGNER] != pid[SAME_SIGNER[0]], "two different signers must not merge"
    assert len(people.db.people()) == 2
    people.regroup()  # a full re-grouping agrees
    got = {f: people.db.tracks("WHERE video_id = ?", f)[0].person_id for f in asl_tracks}
    assert got[SAME_SIGNER[0]] == got[SAME_SIGNER[1]] != got[OTHER_SIGNER]


def test_only_the_five_point_landmark_model_is_used():
    """The 68-point model's training data forbids commercial use: it is never loaded or named."""
    from pathlib import Path

    import reelcore.channels.people as pkg
    from reelcore.media.decode import sample_frames

    s = PeopleSettings()
    frame = next(iter(sample_frames(str(FOOTAGE / "asl_book.mkv"), sampling_for(s))))
    faces = shared_engine(s.detector, s.upsample).detect(np.asarray(frame.image), s.min_face)
    assert len(faces) == 1 and len(faces[0].landmarks) == 5
    for f in Path(pkg.__file__).parent.glob("*.py"):
        assert "68_face" not in f.read_text(), f


def test_frontalness_from_five_landmarks():
    # two points per eye, then the nose: centred nose is frontal, nose under one eye is a profile
    eyes = [(0, 0), (10, 0), (30, 0), (40, 0)]
    assert frontalness(np.array([*eyes, (20, 15)], np.float32)) == pytest.approx(1.0)
    assert frontalness(np.array([*eyes, (5, 15)], np.float32)) < 0.1


# ----------------------------------------------------------------------------- operations on people

def _track(v: np.ndarray, t: float = 0.0) -> FaceTrack:
    return FaceTrack(start=t, end=t + 1, frames=2, box=(0, 0, 50, 50), best_t=t, quality=0.5, vector=unit(v),
                     crop=b"\xff\xd8jpeg", boxes=((t, (0, 0, 50, 50)),))


def _faces(seed: int, n: int, spread: float = 0.05) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = unit(rng.normal(size=128))
    return [unit(centre + spread * unit(rng.normal(size=128))) for _ in range(n)]


@pytest.fixture()
def people(tmp_path) -> People:
    return People(PeopleDB(tmp_path / "people.sqlite3"), threshold=0.30)


def test_new_footage_of_a_named_person_is_recognised(people):
    a, b = _faces(1, 4), _faces(2, 4)
    pa = people.add("v1", "/v1.mp4", "id", [_track(v) for v in a[:2]])
    pb = people.add("v2", "/v2.mp4", "id", [_track(v) for v in b[:2]])
    assert len(set(pa)) == 1 and len(set(pb)) == 1 and pa[0] != pb[0]
    people.name(pa[0], "Maria")
    later = people.add("v3", "/v3.mp4", "id", [_track(a[2]), _track(b[2])])
    assert later[0] == pa[0] and people.db.person(later[0]).name == "Maria"
    assert later[1] == pb[0]
    assert people.resolve("maria").id == pa[0]


def test_regrouping_never_loses_a_name(people):
    a, b = _faces(3, 6), _faces(4, 6)
    pid = people.add("v1", "/v1.mp4", "id", [_track(v) for v in a[:3]])[0]
    people.name(pid, "Tom")
    people.add("v2", "/v2.mp4", "id", [_track(v) for v in b[:3]])
    # a tighter threshold splits everything unpinned apart; a looser one would pull all together
    for thr in (0.01, 1.99, 0.4):
        people.threshold = thr
        people.regroup()
        tom = people.db.by_name("Tom")
        assert tom is not None and tom.id == pid and tom.tracks >= 3
    # the unnamed person's tracks came back together at the normal threshold
    others = {t.person_id for t in people.db.tracks("WHERE video_id = 'v2'")}
    assert len(others) == 1 and pid not in others


def test_two_named_people_never_merge_in_a_regroup(people):
    a, b = _faces(5, 2), _faces(6, 2)
    pa = people.add("v1", "/v1.mp4", "id", [_track(a[0])])[0]
    pb = people.add("v2", "/v2.mp4", "id", [_track(b[0])])[0]
    people.name(pa, "Ann")
    people.name(pb, "Bob")
    people.threshold = 1.99  # everything is "close"
    people.regroup()
    assert people.resolve("Ann").id == pa and people.resolve("Bob").id == pb
    assert people.resolve("Ann").tracks == 1 and people.resolve("Bob").tracks == 1


def test_rename_merge_split(people):
    a, b = _faces(7, 3), _faces(8, 3)
    pa = people.add("v1", "/v1.mp4", "id", [_track(v) for v in a])[0]
    pb = people.add("v2", "/v2.mp4", "id", [_track(v) for v in b])[0]
    assert pa != pb
    people.name(pa, "Maria")
    people.name(pa, "Maria Lopez")  # rename
    assert people.db.by_name("Maria") is None and people.resolve("maria lopez").id == pa
    with pytest.raises(PeopleError, match="already"):
        people.name(pb, "MARIA LOPEZ")
    people.name(pb, "Tom")
    with pytest.raises(PeopleError, match="both are named"):
        people.merge(pa, pb)
    assert people.resolve("Tom").tracks == 3  # the refused merge changed nothing
    # merge an unnamed person into a named one: the name stays, every track is there
    pc = people.split(people.db.tracks("WHERE video_id = 'v1'")[0].id).id
    assert people.db.person(pc).tracks == 1 and people.resolve("Maria Lopez").tracks == 2
    people.regroup()  # a split is pinned: a re-grouping does not undo it
    assert people.db.person(pc).tracks == 1
    merged = people.merge(pa, pc)
    assert merged.name == "Maria Lopez" and merged.tracks == 3
    with pytest.raises(PeopleError, match="no person"):
        people.db.person(pc)
    # merging a named person into an unnamed one carries the name over
    pd = people.split(people.db.tracks("WHERE video_id = 'v2'")[0].id).id
    kept = people.merge(pd, people.resolve("Tom").id)
    assert kept.id == pd and kept.name == "Tom" and kept.tracks == 3
    # two different names merge only when told which one may go
    kept = people.merge(pa, pd, drop_name=True)
    assert kept.name == "Maria Lopez" and kept.tracks == 6


def test_a_file_analysed_again_keeps_its_people(people):
    a, b = _faces(11, 3), _faces(12, 3)
    first = people.replace_video("v1", "/v1.mp4", "id", [_track(a[0]), _track(b[0])])
    assert len(set(first)) == 2
    again = people.replace_video("v1", "/v1.mp4", "id2", [_track(a[1]), _track(b[1])])
    assert again == first, "'Person N' labels survive a re-analysis of the same file"
    assert len(people.db.tracks()) == 2 and len(people.db.people()) == 2


def test_a_split_survives_regrouping(people):
    a = _faces(13, 3)
    pid = people.add("v1", "/v1.mp4", "id", [_track(v) for v in a])[0]  # unnamed: nothing pinned yet
    out = people.split(people.db.tracks()[0].id)
    people.regroup()
    assert people.db.person(out.id).tracks == 1 and people.db.person(pid).tracks == 2


def test_unknown_name_says_the_closest(people):
    pid = people.add("v1", "/v1.mp4", "id", [_track(_faces(9, 1)[0])])[0]
    people.name(pid, "Legolas")
    with pytest.raises(PeopleError, match="closest: Legolas"):
        people.resolve("Legolaz")
    with pytest.raises(PeopleError, match="empty"):
        people.name(pid, "   ")
    with pytest.raises(PeopleError, match="automatic label"):
        people.name(pid, "Person 7")


def test_names_survive_reopen_and_file_removal(tmp_path):
    path = tmp_path / "people.sqlite3"
    a = _faces(10, 3)
    people = People(PeopleDB(path), 0.30)
    pid = people.add("v1", "/v1.mp4", "id", [_track(v) for v in a[:2]])[0]
    people.name(pid, "Maria")
    people.db.remove_video("v1")  # every track of Maria gone (file deleted or re-analysed)
    people.db.close()
    people = People(PeopleDB(path), 0.30)
    assert people.resolve("Maria").tracks == 0
    assert people.add("v9", "/v9.mp4", "id", [_track(a[2])]) == [pid], "the name still recognises the face"
    people.regroup()
    assert people.resolve("Maria").tracks == 1, "a re-grouping keeps what the name recognised"
    people.db.forget()
    assert people.db.people() == [] and people.db.tracks() == []


def test_migration_is_versioned_and_idempotent(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "x.sqlite3")
    assert migrate(db) == 0
    assert migrate(db) == SCHEMA_VERSION
    assert max(MIGRATIONS) == SCHEMA_VERSION
    db.execute("UPDATE people_schema SET version = 99")
    db.commit()
    with pytest.raises(PeopleError, match="newer"):
        migrate(db)


def test_average_linkage_keeps_anchored_groups_apart():
    v = np.stack([unit(np.ones(4)), unit(np.ones(4) + 0.01), unit(np.ones(4) - 0.01)])
    got = average_linkage(v, [[0], [1], [2]], [True, True, False], threshold=0.5)
    assert len(got) == 2 and sorted(len(g) for g in got) == [1, 2]


def test_channel_analyses_and_commits_a_file(tmp_path):
    """The channel interface of reelcore.channels.base (the speech branch); skips before it is merged."""
    base = pytest.importorskip("reelcore.channels.base")
    from reelcore.channels.people.channel import PeopleChannel

    Channel, ChannelError = base.Channel, base.ChannelError

    ch = PeopleChannel(PeopleSettings(), tmp_path)
    assert isinstance(ch, Channel) and ch.name == "people" and ch.enabled and "resnet128-5pt" in ch.identity
    an = ch.analyse(str(FOOTAGE / "asl_book.mkv"), threading.Event())
    assert an.complete and len(an.tracks) == 1 and an.seconds > 3
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    fs = ch.store(client, "reelfind")
    assert ch.commit("vid-book", "/x/asl_book.mkv", an, fs) == ch.commit("vid-book", "/x/asl_book.mkv", an, fs)
    assert len(ch.db().tracks()) == 1 and fs.count() == 1, "a re-run replaces the file's tracks"
    stop = threading.Event()
    stop.set()
    assert not ch.analyse(str(FOOTAGE / "asl_walk.mkv"), stop).complete
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(ChannelError):
        ch.analyse(str(bad), threading.Event())
    ch.forget(client, "reelfind")
    assert ch.db().tracks() == [] and ch.db().people() == []
    assert not [c for c in client.list_collections() if "people" in str(getattr(c, "name", c))]


def test_two_named_people_together_on_real_footage(asl_tracks, tmp_path):
    """friday.mp4 (ground truth in bench/people_quality.py): the woman in the top hat (upper right)
    is on screen throughout, the switchboard operator (middle) shows her face from 1.5 s on."""
    from reelcore.channels.people.query import together

    s = PeopleSettings(sample_fps=2.0)
    friday = analyse_file(str(FOOTAGE / "friday.mp4"), shared_engine(s.detector, s.upsample), s).tracks
    people = People(PeopleDB(tmp_path / "p.sqlite3"), s.match_threshold)
    pids = people.add("fri", "/f/friday.mp4", "id", friday)
    for f, tracks in asl_tracks.items():
        people.add(f, f"/f/{f}", "id", tracks)
    tophat = {p for p, t in zip(pids, friday, strict=True) if t.box[1] < 160}
    operator = {p for p, t in zip(pids, friday, strict=True) if t.box[1] >= 160}
    assert len(tophat) == 1 and len(operator) == 1 and tophat != operator, "one person each across cuts"
    people.name(tophat.pop(), "Hildy")
    people.name(operator.pop(), "Operator")
    signer = people.db.tracks("WHERE video_id = 'asl_book.mkv'")[0].person_id
    people.name(signer, "Signer")
    got = together(people, ["hildy", "Operator"])
    assert len(got) == 1 and got[0].path == "/f/friday.mp4"
    assert 1.0 <= got[0].start <= 1.6 and got[0].end >= 3.5
    assert set(got[0].strips) == {"Hildy", "Operator"}
    assert together(people, ["Hildy", "Signer"]) == []  # never on screen together
    assert {m.path for m in together(people, ["Signer"])} == {"/f/asl_book.mkv", "/f/asl_walk.mkv"}
    with pytest.raises(PeopleError, match="closest: Hildy"):
        together(people, ["Hildi", "Operator"])


def test_face_vectors_live_in_the_vector_store(asl_tracks, tmp_path):
    """Real Chroma: tracks with video, span and box; the same signer's other clip is the nearest face."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from reelcore.channels.people.store import FaceStore

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    fs = FaceStore(client, "reelfind", PeopleSettings().identity)
    for f, tracks in asl_tracks.items():
        fs.replace_video(f, f"/f/{f}", tracks)
        fs.replace_video(f, f"/f/{f}", tracks)  # a re-run overwrites
    assert fs.count() == 3
    hits = fs.nearest(asl_tracks["asl_book.mkv"][0].vector, 3)
    assert [h.video_id for h in hits] == ["asl_book.mkv", "asl_walk.mkv", "asl_eat_vfr.mp4"]
    assert hits[0].distance < 1e-3 and hits[1].distance < PeopleSettings().match_threshold < hits[2].distance
    assert hits[1].end > hits[1].start and len(hits[1].box) == 4
    fs.set_path("asl_walk.mkv", "/moved/asl_walk.mkv")
    assert fs.nearest(asl_tracks["asl_walk.mkv"][0].vector, 1)[0].path == "/moved/asl_walk.mkv"
    fs.delete_video("asl_eat_vfr.mp4")
    assert fs.count() == 2
    fs.drop()
    assert FaceStore(client, "reelfind", PeopleSettings().identity).count() == 0


def _naive_linkage(v: np.ndarray, groups: list[list[int]], anchored: list[bool], thr: float) -> list[list[int]]:
    gs, an = [list(g) for g in groups], list(anchored)
    d = np.linalg.norm(v[:, None] - v[None], axis=2)
    while True:
        pairs = [(d[np.ix_(gs[a], gs[b])].mean(), a, b) for a in range(len(gs)) for b in range(a + 1, len(gs))
                 if not (an[a] and an[b])]
        if not pairs or min(pairs)[0] >= thr:
            return gs
        _, a, b = min(pairs)
        gs[a] += gs[b]
        an[a] = an[a] or an[b]
        del gs[b], an[b]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_linkage_matches_the_textbook_definition(seed):
    rng = np.random.default_rng(seed)
    cents = [unit(rng.normal(size=16)) for _ in range(6)]
    v = np.stack([unit(cents[k % 6] + 0.6 * unit(rng.normal(size=16))) for k in range(40)]).astype(np.float32)
    groups = [[0, 6], [1], [2, 8, 14]] + [[k] for k in range(3, 40) if k not in (6, 8, 14)]
    anchored = [True, True, True] + [False] * (len(groups) - 3)
    want = sorted(sorted(g) for g in _naive_linkage(v, groups, anchored, 0.9))
    got = sorted(sorted(g) for g in average_linkage(v, groups, anchored, 0.9))
    assert got == want and 3 <= len(got) < 40
