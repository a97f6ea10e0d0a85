"""open_clip model: loaded lazily once under a lock, kept warm, batched L2-normalised encodes."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from .config import ModelSettings

log = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The configured model or checkpoint cannot be loaded; message says what to fix."""


def _resolve_device(wanted: str) -> str:
    import torch

    if wanted == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("model.device = 'cuda' but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


class Embedder:
    """CLIP image/text encoder. Thread-safe; the first encode loads the model."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._model = None
        self._preprocess = None
        self._tokenizer = None
        self._device = "cpu"
        self._dtype = None
        if settings.config_path is not None:
            self._register_config(settings.config_path)

    @staticmethod
    def _register_config(path: Path) -> None:
        import open_clip

        if not Path(path).exists():
            raise ModelLoadError(f"model.config_path does not exist: {path}")
        open_clip.add_model_config(path)

    # -- identity ---------------------------------------------------------------------------
    @cached_property
    def image_size(self) -> int:
        import open_clip

        cfg = open_clip.get_model_config(self.settings.name)
        if cfg is None:
            raise ModelLoadError(
                f"unknown open_clip model {self.settings.name!r} (model.name); "
                f"see open_clip.list_models() or set model.config_path to a model config JSON"
            )
        size = cfg.get("vision_cfg", {}).get("image_size", 224)
        return int(size if isinstance(size, int) else size[0])

    @cached_property
    def dim(self) -> int:
        import open_clip

        cfg = open_clip.get_model_config(self.settings.name)
        if cfg is None:
            self.image_size  # raises the helpful error  # noqa: B018
        return int(cfg["embed_dim"])

    @property
    def pretrained_tag(self) -> str:
        """The pretrained part of the identity: a tag, or the checkpoint file name for local paths."""
        p = self.settings.pretrained
        if p.lower() == "none":
            return "random"
        if os.sep in p or p.endswith((".pt", ".bin", ".safetensors", ".pth")):
            return Path(p).stem
        return p

    @property
    def identity(self) -> str:
        """Model identity used to name the vector collection: vectors of different models never mix."""
        raw = f"{self.settings.name}-{self.pretrained_tag}-{self.image_size}"
        return re.sub(r"[^A-Za-z0-9._-]", "_", raw)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def device(self) -> str:
        return self._device

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model once (idempotent, thread-safe)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            self._load_locked()

    def _load_locked(self) -> None:
        import open_clip
        import torch

        s = self.settings
        self.image_size  # validates the model name early  # noqa: B018
        threads = s.threads or os.cpu_count() or 1
        torch.set_num_threads(threads)
        device = _resolve_device(s.device)
        pretrained: str | None = s.pretrained
        if pretrained.lower() == "none":
            log.warning(
                "model.pretrained = none: using RANDOM weights for %s. Search results will be "
                "meaningless; use this only for benchmarks and smoke tests.", s.name,
            )
            pretrained = None
            # Same random weights in every process, so an index built by one process and queried
            # by another (CLI index, then search) lives in one vector space.
            torch.manual_seed(0)
        elif os.sep in pretrained or Path(pretrained).suffix:
            ckpt = Path(pretrained).expanduser()
            if not ckpt.is_file():
                raise ModelLoadError(f"model.pretrained checkpoint not found: {ckpt}")
            if not os.access(ckpt, os.R_OK):
                raise ModelLoadError(f"model.pretrained checkpoint is not readable: {ckpt}")
            pretrained = str(ckpt)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                s.name, pretrained=pretrained, device=device
            )
            tokenizer = open_clip.get_tokenizer(s.name)
        except ModelLoadError:
            raise
        except Exception as e:  # open_clip raises many kinds; make it one actionable line
            raise ModelLoadError(
                f"cannot load model {s.name!r} with pretrained={s.pretrained!r}: {e}. "
                "Offline installs need model.pretrained set to a local checkpoint file."
            ) from e
        model.eval()
        self._dtype = None
        if device == "cuda":
            model = model.half()
            self._dtype = torch.float16
        self._model, self._preprocess, self._tokenizer, self._device = model, preprocess, tokenizer, device
        log.info("loaded model %s on %s (%d threads)", self.identity, device, threads)

    # -- encoding ---------------------------------------------------------------------------
    def _autocast(self):
        import contextlib

        import torch

        if self._device == "cpu" and self.settings.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def preprocess(self, images: Sequence[Image.Image]):
        """PIL images -> model input tensor (resize + centre crop + normalise)."""
        import torch

        self.load()
        return torch.stack([self._preprocess(im.convert("RGB")) for im in images])

    def encode_tensor(self, batch) -> np.ndarray:
        import torch

        self.load()
        with torch.inference_mode(), self._autocast():
            x = batch.to(self._device)
            if self._dtype is not None:
                x = x.to(self._dtype)
            feats = self._model.encode_image(x)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Encode images in batches of model.batch_size; returns (N, dim) unit vectors."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        bs = self.settings.batch_size
        out = [self.encode_tensor(self.preprocess(images[i : i + bs])) for i in range(0, len(images), bs)]
        return np.concatenate(out)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts; returns (N, dim) unit vectors."""
        import torch

        self.load()
        with torch.inference_mode(), self._autocast():
            tokens = self._tokenizer(list(texts)).to(self._device)
            feats = self._model.encode_text(tokens)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32)
