"""Two machines (two data dirs) sharing one real `chroma run` server: one question, one answer.

Each machine indexes different real clips into the same collection; asked from either machine,
search, path_glob, find_scenes, similar_moments, score_timeline and list_videos must agree on the
moments and videos (paths and times come from the vector metadata where the local catalog does
not know the file). Thumbnails stay local: get_frame on the other machine's video says why it
cannot show the image instead of failing obscurely.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reelcore.ingest.discovery import Root
from reelcore.query.search import SearchService
from reelcore.runtime import Runtime
from reelcore.storage.shared import RemoteRecord

from .conftest import copy_clips, tiny_settings
from .store_support import chroma_server

A_CLIPS = ["asl_book.mkv", "asl_walk.mkv"]
B_CLIPS = ["friday.mp4", "sintel_excerpt_a.mp4"]


@pytest.fixture(scope="module")
def machines(tmp_path_factory, footage):
    """(A, B): a SearchService per data dir, each having indexed its own clips into one server."""
    tmp = tmp_path_factory.mktemp("shared")
    runtimes: list[Runtime] = []
    with chroma_server(tmp / "server") as url:
        try:
            services = []
            for name, clips in (("a", A_CLIPS), ("b", B_CLIPS)):
                root = tmp / f"footage-{name}"
                copy_clips(clips, root)
                settings = tiny_settings(tmp / f"data-{name}", store={"url": url})
                rt = Runtime.open(settings, "test")
                runtimes.append(rt)
                for r in rt.reconciler().reconcile(Root(root)).todo:
                    assert rt.indexer().index(r).state == "indexed"
                services.append(SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs))
            yield tuple(services)
        finally:
            for rt in runtimes:
                rt.close()


def _moments(out) -> list[tuple]:
    return [(m.video_id, m.path, m.start, m.end, m.peak, m.score, m.frames) for m in out.moments]


def test_search_and_path_glob_give_the_same_moments_on_both_machines(machines):
    a, b = machines
    found = 0
    for query in ("a woman", "people", "a film"):
        for glob in (None, "*friday*", "*.mkv", "*/footage-b/*", "asl_[!b]*"):
            oa, ob = a.search(query, limit=10, path_glob=glob), b.search(query, limit=10, path_glob=glob)
            assert _moments(oa) == _moments(ob), (query, glob)
            assert (oa.match, oa.best_z, oa.message) == (ob.match, ob.best_z, ob.message)
            found += bool(oa.moments)
    assert found >= 8  # most of these find something (random weights: a few may find nothing)
    # A glob naming only B's files finds them from A (the old local-catalog filter found nothing).
    only_b = a.search("a woman", limit=10, path_glob="*friday*")
    assert {m.name for m in only_b.moments} == {"friday.mp4"}


def test_thumbnails_only_for_files_this_machine_indexed(machines):
    a, b = machines
    for svc, own in ((a, A_CLIPS), (b, B_CLIPS)):
        for m in svc.search("a woman", limit=10).moments:
            assert (m.thumbnail is not None) == (m.name in own), (m.name, m.thumbnail)


def test_list_videos_lists_the_same_indexed_videos(machines):
    a, b = machines
    la, lb = a.list_videos(state="indexed", limit=100), b.list_videos(state="indexed", limit=100)
    assert la.total == lb.total == 4
    assert [(v.video_id, v.path) for v in la.videos] == [(v.video_id, v.path) for v in lb.videos]
    # Paged and globbed the same way on both.
    for glob in ("*.mp4", "*asl*"):
        pa = [(v.video_id, v.path) for o in (0, 1) for v in a.list_videos(glob, None, 1, o).videos]
        pb = [(v.video_id, v.path) for o in (0, 1) for v in b.list_videos(glob, None, 1, o).videos]
        assert pa == pb and len(pa) == 2, glob
    remote = [v for v in la.videos if v.name in B_CLIPS]
    assert remote and all("another machine" in (v.note or "") for v in remote)


def test_scenes_similar_and_timeline_agree_across_machines(machines):
    a, b = machines
    # Each machine finds scenes in the other's videos, the same ones the owner finds.
    for glob, other in (("*/footage-b/*", B_CLIPS), ("*/footage-a/*", A_CLIPS)):
        # Random weights: take a threshold just under the best frame, so there is a scene to compare.
        thr = b.scenes(["a woman"], threshold_z=20.0, path_glob=glob).best_z - 0.5
        sa, sb = a.scenes(["a woman"], threshold_z=thr, path_glob=glob), b.scenes(["a woman"], threshold_z=thr,
                                                                                 path_glob=glob)
        key = [(s.video_id, s.path, s.start, s.end, s.z, s.shots) for s in sa.scenes]
        assert key and key == [(s.video_id, s.path, s.start, s.end, s.z, s.shots) for s in sb.scenes]
        assert {s.name for s in sa.scenes} <= set(other)
    # B's file, named by its bare file name, from A (known only from the store) and from B.
    assert isinstance(a.resolve_video("friday.mp4"), RemoteRecord)
    assert _moments(a.similar("friday.mp4", 1.0)) == _moments(b.similar("friday.mp4", 1.0))
    ta, _ = a.timeline("friday.mp4", "a woman")
    tb, _ = b.timeline("friday.mp4", "a woman")
    assert ta.points == tb.points and ta.peaks[0].time == tb.peaks[0].time and ta.frames == tb.frames


def test_get_frame_of_the_other_machines_video_says_why_there_is_no_image(machines):
    a, b = machines
    vid = b.resolve_video("friday.mp4").video_id
    own = b.frame(vid, 2.0)
    assert Path(own.thumbnail).is_file()
    with pytest.raises(ValueError, match="indexed by another machine") as e:
        a.frame(vid, 2.0)
    assert f"{own.start:.2f}-{own.end:.2f} s" in str(e.value)  # the times are still the right ones
    with pytest.raises(ValueError, match="past the end"):
        a.frame(vid, 500.0)


class _Provider:
    """The MCP server's provider over an already open SearchService (one machine)."""

    def __init__(self, svc: SearchService) -> None:
        self.settings = svc.settings
        self._svc = svc

    def search_service(self) -> SearchService:
        return self._svc

    def current_work(self) -> None:
        return None


def test_videos_resource_matches_list_videos_on_both_machines(machines):
    """The MCP resource reelfind://videos lists what the list_videos tool lists, the other machine's
    videos included (it used to read the local catalog only), read with a real in-memory MCP client."""
    import json

    import anyio
    from mcp import Client

    from mcp_server.server import build_server

    async def read(svc: SearchService) -> tuple[list[dict], dict]:
        async with Client(build_server(_Provider(svc), warm=False)) as c:
            res = await c.read_resource("reelfind://videos")
            tool = await c.call_tool("list_videos", {"limit": 100})
        return json.loads(res.contents[0].text), tool.structured_content

    listed = []
    for svc in machines:
        videos, tool = anyio.run(read, svc)
        assert videos == tool["videos"] and len(videos) == 4
        listed.append([(v["video_id"], v["path"]) for v in videos])
    assert listed[0] == listed[1]
