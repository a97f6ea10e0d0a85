"""path_glob in SQL matches exactly what the old Python filter (fnmatch on path or name) matched."""

from __future__ import annotations

import fnmatch
import random
import sqlite3

import pytest

from reelcore.storage.catalog import Catalog
from reelcore.storage.globsql import NAME_SQL, glob_match, sqlite_glob

NAMES = [
    "/footage/2024/a.mp4", "/footage/2024/A.MP4", "/footage/2024/b.mov", "/footage/x/[draft] cut.mp4",
    "/footage/x/cut[1].mp4", "/footage/x/what?.mkv", "/footage/x/star*.mp4", "/footage/x/bang!.mp4",
    "/footage/x/^caret.mp4", "/footage/x/a-b.mp4", "/footage/x/back\\slash.mp4", "/footage/x/100%_done.mp4",
    "/footage/x/under_score.mp4", "/footage/é/café.mp4", "/footage/x/new\nline.mp4", "/footage/x/]close.mp4",
    "/footage/x/&and~tilde|pipe.mp4", "/footage/x/ space .mp4", "/footage/x/.hidden.mp4", "/f/x/y/z/deep.webm",
    "/footage/x/clip", "/footage/x/", "relative/name.mp4", "noslash",
]
PATTERNS = [
    "*.mp4", "*.MP4", "*", "**", "?", "*.mp?", "/footage/2024/*", "*/2024/*", "a.mp4", "A.MP4", "*[[]*", "[[]*",
    "*]*", "[]]*", "[!]]*", "*[!a]*", "[!a]*", "[^a]*", "^*", "[!^]*", "[a-c]*", "*[0-9]*", "[z-a]*", "[!b-a]*",
    "*\\*", "*[\\]*", "*%*", "*_*", "100%_done.mp4", "*what?.mkv", "*what[?].mkv", "star[*].mp4", "star*.mp4",
    "[", "*[", "[]", "[!]", "[!", "*[!]*", "café*", "caf[é]*", "*é*", "*\n*", "*&*", "*[&~|]*", "[&]*", " space *",
    ".*", "*/.*", "/f/*/deep.webm", "/f/?/*", "*/x/*", "clip", "noslash", "no*", "relative/*", "[.]hidden*",
    "*.[mw][pe][4b]*", "[!/]*", "*/", "/footage/x/",
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    cat = Catalog(tmp_path_factory.mktemp("glob") / "catalog.sqlite3")
    for i, p in enumerate(NAMES):
        cat.add(p, "/footage", 1, 0.0, f"fp{i}")
    yield cat
    cat.close()


def _old(pattern: str) -> list[str]:
    """The filter list_videos and path_glob used before: every record, fnmatch in Python."""
    return sorted(p for p in NAMES if fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p.rsplit("/", 1)[-1], pattern))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_sql_glob_matches_like_fnmatch_on_tricky_names(catalog, pattern):
    assert [r.path for r in catalog.find(pattern)] == _old(pattern), repr(pattern)
    assert catalog.count(pattern) == len(_old(pattern))


def test_random_patterns_match_like_fnmatch(catalog):
    rnd = random.Random(7)
    alphabet = list("*?[]!^-\\/.a_%é") + ["mp4", "x", "cut", "A"]
    for _ in range(3000):
        pattern = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 7)))
        assert [r.path for r in catalog.find(pattern)] == _old(pattern), repr(pattern)


def test_common_globs_run_as_sqlite_glob_not_python(catalog):
    """The usual patterns are evaluated by SQLite's GLOB (C), only odd sets fall back to Python."""
    for p in ("*.mp4", "/footage/2024/*", "*what?.mkv", "[!a]*", "*[[]*", "cut[1].mp4"):
        assert sqlite_glob(p) is not None, p
    for p in ("[a-c]*", "[^a]*", "*[!b-a]*"):
        assert sqlite_glob(p) is None, p
    sqls: list[str] = []
    catalog._db.set_trace_callback(sqls.append)
    try:
        catalog.find("*.mp4", limit=2)
    finally:
        catalog._db.set_trace_callback(None)
    assert any("GLOB" in s and "LIMIT" in s for s in sqls) and not any("rf_glob" in s for s in sqls)


def test_name_expression_is_the_file_name():
    db = sqlite3.connect(":memory:")
    for p in NAMES + ["a//b", "///", "/", "x/"]:
        assert db.execute(f"SELECT {NAME_SQL.replace('path', '?')}", (p,) * 3).fetchone()[0] == p.rsplit("/", 1)[-1]
    assert glob_match("/a/b.mp4", "b.mp4") and not glob_match("/a/b.mp4", "a")
