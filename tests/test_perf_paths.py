"""The performance shortcuts give the same answers as the plain paths they replace."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from reelcore.channels.visual.embedder import Embedder
from reelcore.config import ModelSettings
from reelcore.storage.store import FrameRecord, FrameStore

from .conftest import TINY_MODEL, tiny_settings


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    e = Embedder(ModelSettings(**TINY_MODEL))
    e.load()
    return e


def test_text_prefix_encoding_equals_full_context(embedder):
    assert embedder._fast_text  # the tiny model is a causal CLIP text tower: the shortcut applies
    texts = ["a burning letter", "two people talking at night in the rain", "x" * 300, ""]
    fast = embedder.encode_texts(texts)
    embedder._fast_text = False
    try:
        full = embedder.encode_texts(texts)
    finally:
        embedder._fast_text = True
    assert np.allclose(fast, full, atol=1e-5)


@pytest.mark.parametrize("size", [(455, 256), (256, 455), (40, 30), (64, 64), (301, 257)])
def test_uint8_preprocessing_equals_open_clip_transform(embedder, size):
    rng = np.random.default_rng(sum(size))
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ref = embedder._preprocess(img).unsqueeze(0)
    got = embedder.normalize(torch.from_numpy(embedder.to_input_array(img)).unsqueeze(0))
    assert got.shape == ref.shape and torch.allclose(got, ref, atol=1e-5)


def test_encode_pixels_equals_encode_images(embedder):
    rng = np.random.default_rng(1)
    imgs = [Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)) for _ in range(3)]
    px = np.stack([embedder.to_input_array(i) for i in imgs])
    assert np.allclose(embedder.encode_pixels(px), embedder.encode_images(imgs), atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="int8 export needs the onnx package")
def test_int8_encoder_vectors_stay_compatible(embedder):
    int8 = Embedder(ModelSettings(**TINY_MODEL, precision="int8"))
    rng = np.random.default_rng(2)
    px = rng.integers(0, 256, (6, embedder.image_size, embedder.image_size, 3), dtype=np.uint8)
    cos = (embedder.encode_pixels(px) * int8.encode_pixels(px)).sum(1)
    assert cos.min() >= 0.99


def test_count_cache_sees_own_writes_and_query_needs_no_count(tmp_path):
    store = FrameStore(tiny_settings(tmp_path), "count-test")
    assert store.count() == 0 and store.query(np.ones(8, np.float32), 5) == []
    recs = [FrameRecord(f"v:{i}", "v", "/x.mp4", float(i), float(i + 1), 0) for i in range(3)]
    store.upsert(recs, np.eye(3, 8, dtype=np.float32))
    assert store.count() == 3
    assert {h.id for h in store.query(np.ones(8, np.float32), 10)} == {"v:0", "v:1", "v:2"}
    store.delete_ids(["v:0"])
    assert store.count() == 2
    store.delete_video("v")
    assert store.count() == 0


def test_configured_ef_search_is_applied_to_an_existing_collection(tmp_path):
    FrameStore(tiny_settings(tmp_path, store={"hnsw_search_ef": 100}), "ef-test")
    store = FrameStore(tiny_settings(tmp_path, store={"hnsw_search_ef": 700}), "ef-test")
    assert store._collection.configuration_json["hnsw"]["ef_search"] == 700
