"""Start-up without the model: identity from config files, a store that connects on first use,
decoding that starts while the model loads, and a failed load that leaves the file alone."""

from __future__ import annotations

import re
import threading

import pytest

from reelcore.channels.visual.embedder import Embedder, ModelLoadError
from reelcore.channels.visual.modelcfg import builtin_config_dir, find_model_config
from reelcore.config import ModelSettings
from reelcore.ingest.discovery import Root
from reelcore.ingest.fingerprint import fingerprint
from reelcore.runtime import Runtime
from reelcore.storage.store import StoreError

from .conftest import TINY_MODEL, TINY_MODEL_CONFIG, tiny_settings


def identity_via_open_clip(ms: ModelSettings) -> str:
    """The identity as reelfind computed it before (open_clip's registry; the format is unchanged):
    existing catalogs and collections are named by it, so the lazy one must match exactly."""
    import open_clip

    if ms.config_path is not None:
        open_clip.add_model_config(ms.config_path)
    cfg = open_clip.get_model_config(ms.name)
    size = cfg.get("vision_cfg", {}).get("image_size", 224)
    size = int(size if isinstance(size, int) else size[0])
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{ms.name}-{Embedder(ms).pretrained_tag}-{size}")


def test_lazy_identity_matches_open_clip_for_tiny_vit_b_32_and_a_checkpoint(tmp_path):
    ckpt = tmp_path / "my ckpt.pt"
    ckpt.write_bytes(b"not really a checkpoint, only its fingerprint counts" * 1000)
    digest = fingerprint(ckpt).rsplit(":", 1)[1][:8]
    cases = [
        (ModelSettings(**TINY_MODEL), "reelfind-tiny-random-64"),
        (ModelSettings(name="ViT-B-32"), "ViT-B-32-laion2b_s34b_b79k-224"),
        (ModelSettings(name="ViT-B-32", pretrained=str(ckpt)), f"ViT-B-32-my_ckpt-{digest}-224"),
        (ModelSettings(name="ViT-L-14-336", pretrained="openai"), "ViT-L-14-336-openai-336"),
    ]
    for ms, literal in cases:
        lazy = Embedder(ms)
        assert lazy.identity == literal == identity_via_open_clip(ms)
        assert not lazy.loaded


def test_every_open_clip_config_reads_the_same_without_open_clip():
    import open_clip

    # open_clip's own configs (its registry may also hold the tiny test model, registered by now)
    names = sorted({p.stem for p in builtin_config_dir().glob("*.json")} & set(open_clip.list_models()))
    assert len(names) > 50
    for name in names:
        assert find_model_config(name) == open_clip.get_model_config(name), name
    assert find_model_config("no-such-model") is None
    assert find_model_config("reelfind-tiny", TINY_MODEL_CONFIG)["embed_dim"] == 64


def test_unknown_model_names_fail_with_the_helpful_error():
    with pytest.raises(ModelLoadError, match="unknown open_clip model"):
        Embedder(ModelSettings(name="ViT-Nope", pretrained="none")).identity  # noqa: B018


def test_the_loaded_model_has_the_input_size_the_identity_names(tmp_path):
    e = Embedder(ModelSettings(**TINY_MODEL))
    before = e.identity
    e.load()
    assert e.identity == before
    assert tuple(e._model.visual.image_size) == (e.image_size, e.image_size)
    assert e.encode_texts(["a cat"]).shape == (1, e.dim)


def test_the_store_connects_on_first_use_and_a_failure_is_a_store_error(tmp_path):
    settings = tiny_settings(tmp_path / "data", store={"url": "http://127.0.0.1:9"})  # nothing listens
    rt = Runtime.open(settings, "test")  # no connection attempted
    try:
        assert not rt.store.opened and rt.store.name.startswith("reelfind-reelfind-tiny")
        with pytest.raises(StoreError, match="vector store"):
            rt.store.count()
        with pytest.raises(StoreError, match="vector store"):  # tried again, not cached half-open
            rt.store.ids_for_video("x")
    finally:
        rt.close()
    rt = Runtime.open(tiny_settings(tmp_path / "data2"), "test")
    try:
        assert not rt.store.opened and not (tmp_path / "data2" / "chroma").exists()
        assert rt.store.count() == 0 and rt.store.opened
    finally:
        rt.close()


def test_decoding_starts_while_the_model_loads(tmp_path, footage):
    """The first frame is decoded (thumbnail written) before the model has finished loading: a
    load that waits for a decoded frame would otherwise never end."""
    rt = Runtime.open(tiny_settings(tmp_path / "data"), "test")
    try:
        decoded, waited = threading.Event(), []
        real_save, real_load = rt.thumbs.save, rt.embedder._load_locked

        def save(*a, **k):
            decoded.set()
            return real_save(*a, **k)

        def load_after_a_frame() -> None:
            waited.append(decoded.wait(60))
            real_load()

        rt.thumbs.save = save  # type: ignore[method-assign]
        rt.embedder._load_locked = load_after_a_frame  # type: ignore[method-assign]
        [rec] = rt.reconciler().reconcile(Root(footage), scope=footage / "asl_walk.mkv").todo
        out = rt.indexer().index(rec)
        assert waited and waited[0], "no frame was decoded while the model was loading"
        assert out.state == "indexed" and out.frames >= 1
        assert len(rt.store.ids_for_video(rec.video_id)) == out.frames
    finally:
        rt.close()


def test_a_model_that_cannot_load_leaves_the_file_as_it_was_and_stops_the_decoder(tmp_path, footage):
    model = {**TINY_MODEL, "pretrained": str(tmp_path / "missing.pt")}
    rt = Runtime.open(tiny_settings(tmp_path / "data", model=model), "test")
    try:
        [rec] = rt.reconciler().reconcile(Root(footage), scope=footage / "asl_book.mkv").todo
        with pytest.raises(ModelLoadError, match="checkpoint not found"):
            rt.indexer().index(rec)
        row = rt.catalog.get(rec.path)
        # not the file's fault: not failed, no try spent, nothing committed (it still needs indexing)
        assert row.state in ("pending", "indexing") and row.attempts == 0 and row.error is None
        assert row.cursor_ms is None and row.frames == 0
        assert not [t for t in threading.enumerate() if t.name.startswith("decode:")]
        assert not rt.store.opened  # nothing was committed, so Chroma was never needed
    finally:
        rt.close()
