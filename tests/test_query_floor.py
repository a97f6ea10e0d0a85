"""A search always returns its closest moments, even when they score below the query's background.

The relevance floor (search.relevance_floor) thins out frames far below the best hit. With a best z
below 0 (a filtered search whose footage all scores under the index's median, or a random-weight
model) "half the best z" lay above the best hit, so every hit was dropped and the search said the
index was empty. Real embedded Chroma, the tiny model's real text vector, synthetic frame vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

from reelcore.channels.visual.embedder import Embedder
from reelcore.query.scoring import WEAK_Z
from reelcore.query.search import SearchService, relevance_floor
from reelcore.storage.catalog import Catalog
from reelcore.storage.store import FrameRecord, FrameStore, Thumbnails, frame_id

from .conftest import tiny_settings

QUERY = "a red car"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    settings = tiny_settings(tmp_path_factory.mktemp("floor"))
    catalog = Catalog(settings.catalog_path)
    embedder = Embedder(settings.model)
    store = FrameStore(settings, embedder.identity)
    service = SearchService(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir))
    q = service.query_vector(QUERY)
    rng = np.random.default_rng(5)
    # Mostly unrelated footage (the background), one video like the query, one opposite to it, and
    # one a little like it: a weak match on its own (z ~2.4 > WEAK_Z), under half the best (~5.7).
    for name, sign, n in (("other.mp4", 0.0, 300), ("match.mp4", 1.0, 20), ("unlike.mp4", -1.0, 20),
                          ("near.mp4", 0.05, 20)):
        rec = catalog.add(f"/footage/{name}", "/footage", 1, 0.0, name)
        noise = rng.normal(size=(n, q.size)).astype(np.float32)
        vecs = sign * q + 0.3 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
        store.upsert([FrameRecord(frame_id(rec.video_id, float(i)), rec.video_id, rec.path, float(i),
                                  float(i + 1), 0) for i in range(n)], vecs)
        catalog.update(rec.path, state="indexed", frames=n, duration=float(n))
    yield service
    store.close()
    catalog.close()


def test_floor_never_lies_above_the_best_hit():
    for best in (-6.0, -1.0, -0.01, 0.0, 0.3, 1.0, 2.5, 8.0):
        assert relevance_floor(best) <= best


def test_search_below_the_background_returns_its_best_moments_labelled_none(svc):
    out = svc.search(QUERY, limit=3, path_glob="*unlike.mp4")
    assert out.best_z is not None and out.best_z < 0  # the setup: every frame of it is below the median
    assert out.match == "none" and "No good match" in out.message
    assert 1 <= len(out.moments) <= 3 and {m.name for m in out.moments} == {"unlike.mp4"}
    assert out.moments[0].z == out.best_z


def test_floor_still_drops_noise_far_below_a_good_hit(svc):
    out = svc.search(QUERY, limit=10)
    assert out.match == "good" and {m.name for m in out.moments} == {"match.mp4"}


def test_half_the_best_drops_a_weak_video_beside_a_strong_one(svc):
    """The half-maximum rule: beside a strong hit, frames under half its z are noise even when they
    would pass as a weak match on their own (the floor's other bounds alone keep them)."""
    alone = svc.search(QUERY, limit=10, path_glob="*near.mp4")
    assert alone.match == "weak" and alone.moments and {m.name for m in alone.moments} == {"near.mp4"}
    near_z = max(m.z for m in alone.moments)
    both = svc.search(QUERY, limit=10)
    assert WEAK_Z < near_z < both.best_z / 2  # the setup: above a weak match, below half the best
    assert {m.name for m in both.moments} == {"match.mp4"}
