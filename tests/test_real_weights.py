"""Meaning, not plumbing: with real CLIP weights the ground-truth queries find the right moments.

Runs only when REELFIND_TEST_CHECKPOINT names a ViT-B-32 checkpoint file (no downloads here);
REELFIND_TEST_MODEL may name another open_clip architecture for that checkpoint.
"""

from __future__ import annotations

import csv
import os

import pytest

from reelcore.ingest.discovery import Root
from reelcore.query.search import SearchService
from reelcore.runtime import Runtime

from .conftest import FOOTAGE, tiny_settings

CHECKPOINT = os.environ.get("REELFIND_TEST_CHECKPOINT")
pytestmark = [
    pytest.mark.real_weights,
    pytest.mark.skipif(not CHECKPOINT, reason="set REELFIND_TEST_CHECKPOINT to a CLIP checkpoint file"),
]


def _ground_truth() -> list[dict[str, str]]:
    with open(FOOTAGE / "ground_truth.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_ground_truth_queries_rank_the_right_file_and_time(tmp_path):
    model = {"name": os.environ.get("REELFIND_TEST_MODEL", "ViT-B-32"), "pretrained": CHECKPOINT}
    settings = tiny_settings(tmp_path, model=model)
    rt = Runtime.open(settings, "test")
    try:
        for rec in rt.reconciler().reconcile(Root(FOOTAGE), scope=FOOTAGE).todo:
            rt.indexer().index(rec)
        svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        rows = _ground_truth()
        file_hits = time_hits = 0
        for row in rows:
            moments = svc.search_text(row["query"], limit=3)
            right = [m for m in moments if m.path.endswith("/" + row["file"])]
            file_hits += bool(right)
            start, end = float(row["start_s"]), float(row["end_s"])
            time_hits += any(m.start <= end and m.end >= start for m in right)
        # CLIP ViT-B-32 finds the right clip in its top 3 for most of these descriptions.
        assert file_hits / len(rows) >= 0.8, (file_hits, len(rows))
        assert time_hits / len(rows) >= 0.6, (time_hits, len(rows))
    finally:
        rt.close()
