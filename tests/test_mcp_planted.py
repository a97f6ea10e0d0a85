"""Planted answers: synthetic clips with known colours and cut times, indexed through the real
decode -> store pipeline with a deterministic colour encoder in place of CLIP (plumbing test only:
the open_clip path is covered by test_mcp_footage.py). The tools must find exactly what was planted.

The encoder's meaning is obvious: a frame's vector is the square root of the fraction of its pixels
nearest to each palette colour; a text's vector is the one-hot of the colour word it names (any
other text maps to an axis no frame uses).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import anyio
import av
import numpy as np
import pytest
import torch
from mcp import Client

from mcp_server.providers import RuntimeProvider
from mcp_server.server import build_server
from reelcore.channels.visual.embedder import Embedder
from reelcore.config import Settings
from reelcore.ingest.discovery import Root
from reelcore.runtime import Runtime
from reelcore.storage.catalog import Catalog
from reelcore.storage.store import FrameStore, Thumbnails
from tests.mcp_support import image_blocks, png_base64

pytestmark = pytest.mark.timeout(120)

PALETTE = {
    "red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 40, 220), "yellow": (230, 220, 40),
    "white": (235, 235, 235), "black": (16, 16, 16), "grey": (128, 128, 128),
}
NAMES = list(PALETTE)
OTHER = len(NAMES)  # axis for pixels and words that are no palette colour
DIM = OTHER + 1
FPS = 10

# (seconds, left colour, right colour or None); neighbours differ in luma enough for a hard cut.
CLIP_A = [(4, "red", None), (4, "yellow", None), (4, "green", "blue"), (4, "black", None), (4, "red", None)]
CLIP_B = [(4, "black", None), (4, "white", None), (4, "green", "yellow")]


class ColourEmbedder(Embedder):
    """Palette-fraction vectors for frames, colour-word one-hots for texts.

    Frames reach it as the indexer hands them over: 32x32 RGB pixel arrays (`to_input_array`, the
    base class's resize + centre crop), embedded by `encode_pixels` (or, on the older path,
    `preprocess` + `encode_tensor`); no model is loaded.
    """

    dim = DIM
    image_size = 32

    @property
    def identity(self) -> str:
        return "colour-test-8"

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        pass

    def preprocess(self, images):
        return torch.from_numpy(np.stack([self.to_input_array(im) for im in images]))

    def normalize(self, batch):
        return batch

    def encode_pixels(self, pixels) -> np.ndarray:
        cols = np.array(list(PALETTE.values()), np.float32)
        px = np.asarray(pixels, np.float32).reshape(len(pixels), -1, 3)
        d = np.linalg.norm(px[:, :, None, :] - cols[None, None], axis=3)
        idx = np.where(d.min(axis=2) < 130, d.argmin(axis=2), OTHER)
        fractions = np.stack([np.bincount(row, minlength=DIM) / len(row) for row in idx])
        v = np.sqrt(fractions).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def encode_tensor(self, batch) -> np.ndarray:
        return self.encode_pixels(np.asarray(batch))

    def encode_images(self, images) -> np.ndarray:
        return self.encode_pixels(np.stack([self.to_input_array(im) for im in images]))

    def encode_texts(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        for i, t in enumerate(texts):
            words = [w for w in t.lower().split() if w in PALETTE]
            out[i, NAMES.index(words[0]) if words else OTHER] = 1.0
        return out


def write_clip(path: Path, segments, size=(160, 120)) -> None:
    """Solid or split-screen segments with a small moving square (so 1 s samples differ)."""
    w, h = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"preset": "ultrafast", "crf": "18"}
        n = 0
        for seconds, left, right in segments:
            for _ in range(seconds * FPS):
                img = np.empty((h, w, 3), np.uint8)
                img[:, : w // 2] = PALETTE[left]
                img[:, w // 2:] = PALETTE[right or left]
                x = (n * 3) % (w - 24)
                img[48:72, x: x + 24] = (0, 0, 0) if left in ("white", "yellow") else (255, 255, 255)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
                frame.pts = n
                container.mux(stream.encode(frame))
                n += 1
        container.mux(stream.encode(None))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    base = tmp_path_factory.mktemp("planted")
    clips = base / "clips"
    clips.mkdir()
    write_clip(clips / "a.mp4", CLIP_A)
    write_clip(clips / "b.mp4", CLIP_B)
    s = Settings(data_dir=base / "data")
    emb = ColourEmbedder(s.model)
    rt = Runtime(s, Catalog(s.catalog_path), FrameStore(s, emb.identity), emb, Thumbnails(s.thumbs_dir))
    plan = rt.reconciler().reconcile(Root(clips))
    outcomes = [rt.indexer().index(r) for r in plan.todo]
    assert [o.state for o in outcomes] == ["indexed", "indexed"], outcomes
    yield build_server(RuntimeProvider(rt)), clips
    rt.close()


def call(server, name: str, args: dict):
    async def main():
        async with Client(server) as c:
            return await c.call_tool(name, args)

    r = anyio.run(main)
    assert not r.is_error, r.content[0].text
    return r


def spans(moments, video: str) -> list[tuple[float, float]]:
    return [(m["start"], m["end"]) for m in moments if m["name"] == video]


def test_cuts_were_detected(planted):
    server, _ = planted
    frames = call(server, "score_timeline", {"video": "a.mp4", "query": "red"}).structured_content["points"]
    assert len(frames) == 20  # one frame per second survives (the square moves)
    assert [round(p["start"]) for p in frames] == list(range(20))


def test_search_finds_the_planted_colour_with_exact_bounds(planted):
    server, _ = planted
    sc = call(server, "search_footage", {"query": "black", "limit": 5}).structured_content
    assert sc["match"] == "good"
    top = {(m["name"], m["start"], m["end"]) for m in sc["moments"][:2]}
    assert top == {("a.mp4", 12.0, 16.0), ("b.mp4", 0.0, 4.0)}
    assert all(12 <= m["peak"] < 16 for m in sc["moments"] if m["name"] == "a.mp4")
    assert sc["moments"][0]["uri"].endswith(("a.mp4#t=12,16", "b.mp4#t=0,4"))


def test_absent_concept_is_labelled_no_good_match(planted):
    server, _ = planted
    sc = call(server, "search_footage", {"query": "purple", "limit": 3}).structured_content
    assert sc["match"] == "none" and sc["message"].startswith("No good match")
    assert sc["best_z"] < 2


def test_exclude_lowers_frames_matching_the_negative(planted):
    server, _ = planted
    plain = call(server, "search_footage", {"query": "green"}).structured_content["moments"]
    assert {(m["name"], m["start"], m["end"]) for m in plain[:2]} == {("a.mp4", 8, 12), ("b.mp4", 8, 12)}
    assert plain[0]["score"] == pytest.approx(plain[1]["score"], abs=0.03)  # both half green
    excl = call(server, "search_footage", {"query": "green", "exclude": "blue"}).structured_content["moments"]
    assert (excl[0]["name"], excl[0]["start"], excl[0]["end"]) == ("b.mp4", 8, 12)  # green + yellow
    a = [m for m in excl if m["name"] == "a.mp4" and m["start"] >= 8]
    assert not a or a[0]["score"] < excl[0]["score"] - 0.2  # green + blue is pushed down


def test_find_scenes_soft_and(planted):
    server, _ = planted
    r = call(server, "find_scenes", {"all_of": ["green", "blue"]})
    sc = r.structured_content
    assert [(s["name"], s["start"], s["end"]) for s in sc["scenes"]] == [("a.mp4", 8, 12)]
    assert sc["scenes"][0]["shots"] == [2] and sc["match"] == "good"
    assert set(sc["scenes"][0]["concepts"]) == {"green", "blue"}
    assert len(image_blocks(r)) == 1
    # Each alone is everywhere it was planted; together only in the split-screen shot of a.mp4.
    green = call(server, "find_scenes", {"description": "green"}).structured_content["scenes"]
    assert {(s["name"], s["start"], s["end"]) for s in green} == {("a.mp4", 8, 12), ("b.mp4", 8, 12)}
    none = call(server, "find_scenes", {"all_of": ["red", "white"]}).structured_content
    assert none["scenes"] == [] and none["message"].startswith("No scene where")


def test_score_timeline_peaks_and_heatmap(planted):
    server, _ = planted
    r = call(server, "score_timeline", {"video": "a.mp4", "query": "red", "peaks": 2})
    sc = r.structured_content
    peaks = sorted(p["time"] for p in sc["peaks"])
    assert len(peaks) == 2 and 0 <= peaks[0] < 4 and 16 <= peaks[1] < 20
    assert sc["match"] == "good" and sc["duration"] == pytest.approx(20.0)
    by_t = {round(p["start"]): p["z"] for p in sc["points"]}
    assert min(by_t[t] for t in (0, 1, 2, 3, 16, 17, 18, 19)) > max(by_t[t] for t in range(4, 16))
    strip = image_blocks(r)[0]
    assert strip.format == "PNG"
    rgb = np.asarray(strip.convert("RGB"))
    row = rgb[7 + 20]  # middle of the strip (below the 7 px peak markers)
    hot, cold = row[int(1.5 / 20 * strip.width)], row[int(14 / 20 * strip.width)]
    assert hot[0] > 200 and hot[1] > 180 and hot[2] < 100  # yellow where red was planted
    assert cold[1] < 60  # dark over the black shot


def test_similar_moments_and_search_by_image(planted):
    server, _ = planted
    sim = call(server, "similar_moments", {"video": "a.mp4", "time": 13.0}).structured_content["moments"]
    assert (sim[0]["name"], sim[0]["start"], sim[0]["end"]) == ("b.mp4", 0, 4)  # the other black shot
    assert not any(m["name"] == "a.mp4" and m["start"] <= 13 < m["end"] for m in sim)  # not itself
    img = call(server, "search_by_image", {"image_base64": png_base64(PALETTE["white"])}).structured_content
    assert (img["moments"][0]["name"], img["moments"][0]["start"], img["moments"][0]["end"]) == ("b.mp4", 4, 8)
    by_frame = call(server, "search_by_image", {"video": "b.mp4", "time": 5}).structured_content["moments"]
    assert not any(m["name"] == "b.mp4" and m["start"] <= 5 < m["end"] for m in by_frame)  # source excluded


def test_get_frame_shows_the_planted_picture(planted):
    server, clips = planted
    r = call(server, "get_frame", {"video": str(clips / "a.mp4"), "time": 9.5})
    sc = r.structured_content
    assert (sc["start"], sc["end"], sc["shot"]) == (9, 10, 2)
    (im,) = image_blocks(r)
    px = np.asarray(im.convert("RGB"), np.int32)
    left, right = px[10, 10], px[10, -10]
    assert left[1] > left[0] + 80 and left[1] > left[2] + 80  # green half
    assert right[2] > right[0] + 80 and right[2] > right[1] + 80  # blue half
