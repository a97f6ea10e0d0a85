"""open_clip model: loaded lazily once under a lock, kept warm, batched L2-normalised encodes."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from PIL import Image

from ...config import ModelSettings
from ...lazymod import numpy as np  # loaded on first encode: identity needs no arrays
from .int8 import Int8Unavailable, int8_image_session
from .modelcfg import find_model_config, image_size_of

log = logging.getLogger(__name__)


_OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ModelLoadError(Exception):
    """The configured model or checkpoint cannot be loaded; message says what to fix.

    `transient`: the failure may pass by itself (the weights could not be fetched: network down,
    hub unreachable) and is worth retrying; otherwise only the admin can fix it (unknown model
    name, missing local checkpoint, bad config)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


_NETWORK_ERRORS = {  # by class name: requests, httpx, urllib3 and huggingface_hub are optional here
    "ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "RemoteProtocolError",
    "ProxyError", "Timeout", "ConnectionError", "ChunkedEncodingError", "NewConnectionError",
    "MaxRetryError", "LocalEntryNotFoundError", "IncompleteRead", "NetworkError", "TransportError",
}


def _is_network_error(e: BaseException) -> bool:
    """True when a model load failed because the weights could not be fetched over the network
    (and the hub is not switched off on purpose with HF_HUB_OFFLINE, which only the admin changes)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        if isinstance(x, (ConnectionError, TimeoutError)) or type(x).__name__ in _NETWORK_ERRORS:
            return True
        x = x.__cause__ or x.__context__
    return False


_M_ARENA_MAX = -8  # glibc mallopt parameter


def _limit_malloc_arenas(n: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas (default 8 x cores).

    Indexing runs a decode thread, embed workers and a commit thread, each allocating tens of MB
    of frames and activations; with an arena each, freed memory stays mapped in every arena. Two
    arenas measured ~220 MB less peak RSS for `reelfind index` (ViT-B-32) at no speed cost
    (bench/README.md). MALLOC_ARENA_MAX in the environment, if set, wins. No-op off glibc.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, n)
    except (OSError, AttributeError):
        pass


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
        self._norm = None
        self._fast_text = False
        self._ort = None  # ONNX Runtime session of the image tower (precision = "int8")
        self._preload: threading.Thread | None = None
        if settings.config_path is not None and not Path(settings.config_path).exists():
            raise ModelLoadError(f"model.config_path does not exist: {settings.config_path}")

    # -- identity ---------------------------------------------------------------------------
    # Identity, image size and width come from the settings and the model's config JSON, read
    # without importing open_clip/torch (reelcore.channels.visual.modelcfg): `reelfind index` on an unchanged
    # folder, `reelfind status` and the service's first answers need no model.
    @cached_property
    def model_config(self) -> dict:
        """The open_clip model config (vision_cfg, text_cfg, embed_dim) for model.name."""
        s = self.settings
        try:
            cfg = find_model_config(s.name, s.config_path)
        except ValueError:  # an hf-hub name: open_clip fetches its config
            import open_clip

            cfg = open_clip.get_model_config(s.name)
        except (OSError, json.JSONDecodeError) as e:
            raise ModelLoadError(f"cannot read the config of model {s.name!r}: {e}") from e
        if cfg is None:
            raise ModelLoadError(
                f"unknown open_clip model {s.name!r} (model.name); "
                f"see open_clip.list_models() or set model.config_path to a model config JSON"
            )
        return cfg

    @cached_property
    def image_size(self) -> int:
        return image_size_of(self.model_config)

    @cached_property
    def dim(self) -> int:
        return int(self.model_config["embed_dim"])

    @property
    def pretrained_tag(self) -> str:
        """The pretrained part of the identity: a tag, or for a local checkpoint its name plus a
        content fingerprint (hub downloads are all called open_clip_pytorch_model.bin, and two
        different checkpoints must never share a collection)."""
        p = self.settings.pretrained
        if p.lower() == "none":
            return "random"
        if os.sep in p or p.endswith((".pt", ".bin", ".safetensors", ".pth")):
            from ...ingest.fingerprint import fingerprint

            try:
                digest = fingerprint(Path(p).expanduser()).rsplit(":", 1)[1][:8]
            except OSError:
                digest = "missing"  # load() reports the unreadable checkpoint clearly
            return f"{Path(p).stem}-{digest}"
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

    @property
    def workers(self) -> int:
        """How many batches the indexer embeds in parallel: model.threads (0 = CPU cores); 1 on a GPU."""
        if self._device == "cuda":
            return 1
        return self.settings.threads or os.cpu_count() or 1

    @staticmethod
    def init_worker_thread() -> None:
        """Run once in each embed worker thread: one torch (OpenMP) thread for its ops."""
        import torch

        torch.set_num_threads(1)

    # -- loading ----------------------------------------------------------------------------
    def preload(self) -> None:
        """Start loading the model in a background thread and return at once (idempotent).

        `reelfind index` calls this once it knows something needs embedding: importing torch and
        open_clip and building the model take seconds, during which the indexer already probes the
        first file and its decode thread fills the frame queue. `load()` waits for this load (same
        lock); a failure here is not lost: `load()` then tries again and raises it."""
        if self._model is not None or self._preload is not None:
            return
        _limit_malloc_arenas()  # before the decode/embed threads create arenas of their own

        def run() -> None:
            try:
                self.load()
            except Exception as e:  # load() raises it again for the caller that needs the model
                log.debug("background model load failed: %s", e)

        self._preload = threading.Thread(target=run, name="model-load", daemon=True)
        self._preload.start()

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
        device = _resolve_device(s.device)
        # One torch thread per encode: parallelism comes from `workers` batches encoded side by side
        # (see `workers`). Intra-op threading syncs all cores at a barrier hundreds of times per
        # forward pass, so a decoder thread or another process taking a core stalls every op; on
        # 2 busy cores it measured 2-5x slower than two single-threaded batches (bench/README.md).
        torch.set_num_threads(1)
        _limit_malloc_arenas()
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
            if s.config_path is not None:
                open_clip.add_model_config(s.config_path)
            model, _, preprocess = open_clip.create_model_and_transforms(
                s.name, pretrained=pretrained, device=device
            )
            tokenizer = open_clip.get_tokenizer(s.name)
        except ModelLoadError:
            raise
        except Exception as e:  # open_clip raises many kinds; make it one actionable line
            raise ModelLoadError(
                f"cannot load model {s.name!r} with pretrained={s.pretrained!r}: {e}. "
                "Offline installs need model.pretrained set to a local checkpoint file.",
                transient=_is_network_error(e),
            ) from e
        model.eval()
        self._dtype = None
        if device == "cuda":
            model = model.half()
            self._dtype = torch.float16
        self._ort = None
        if device == "cpu" and s.precision == "int8":
            try:
                self._ort = int8_image_session(model.visual, self.image_size)
            except Int8Unavailable as e:
                raise ModelLoadError(str(e)) from e
        self._model, self._preprocess, self._tokenizer, self._device = model, preprocess, tokenizer, device
        self._fast_text = _causal_argmax_text(model)
        log.info("loaded model %s on %s (%d embed workers)", self.identity, device, self.workers)

    # -- encoding ---------------------------------------------------------------------------
    def _autocast(self):
        import contextlib

        import torch

        if self._device == "cpu" and self.settings.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def preprocess(self, images: Sequence[Image.Image]):
        """PIL images -> normalised model input tensor (N, 3, S, S)."""
        import torch

        self.load()
        return self.normalize(torch.stack([torch.from_numpy(self.to_input_array(im)) for im in images]))

    def to_input_array(self, image: Image.Image) -> np.ndarray:
        """PIL image -> (S, S, 3) uint8 RGB array: the model's resize + centre crop, not yet normalised.

        The same pixels as open_clip's transform (PIL bicubic resize of the shorter side to S, centre
        crop with torchvision's rounding), but a quarter of the bytes of a float tensor: the decode
        thread queues these and the embed loop normalises a whole batch at once (`normalize`).
        """
        size = self.image_size
        im = image if image.mode == "RGB" else image.convert("RGB")
        w, h = im.size
        if min(w, h) != size:
            if w <= h:
                nw, nh = size, int(size * h / w)
            else:
                nw, nh = int(size * w / h), size
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
            w, h = nw, nh
        top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
        if (w, h) != (size, size):
            im = im.crop((left, top, left + size, top + size))
        return np.array(im, dtype=np.uint8)  # a writable copy (torch.from_numpy wants one)

    def normalize(self, batch):
        """(N, S, S, 3) uint8 tensor -> (N, 3, S, S) float32 tensor normalised with the model's mean/std."""
        import torch

        self.load()
        if self._norm is None:
            cfg = getattr(self._model.visual, "preprocess_cfg", None) or {}
            mean = cfg.get("mean") or getattr(self._model.visual, "image_mean", None) or _OPENAI_MEAN
            std = cfg.get("std") or getattr(self._model.visual, "image_std", None) or _OPENAI_STD
            # (x/255 - mean)/std == x * scale + shift, as ToTensor + Normalize compute it up to rounding
            scale = 1.0 / (255.0 * torch.tensor(std, dtype=torch.float32))
            shift = -torch.tensor(mean, dtype=torch.float32) / torch.tensor(std, dtype=torch.float32)
            self._norm = (scale.view(1, 3, 1, 1), shift.view(1, 3, 1, 1))
        scale, shift = self._norm
        x = batch.permute(0, 3, 1, 2).to(torch.float32)
        return torch.addcmul(shift, x, scale)

    def encode_tensor(self, batch) -> np.ndarray:
        import torch

        self.load()
        if self._ort is not None:
            feats = torch.from_numpy(self._ort.run(None, {"x": batch.contiguous().numpy()})[0])
            return torch.nn.functional.normalize(feats.float(), dim=-1).numpy().astype(np.float32)
        with torch.inference_mode(), self._autocast():
            x = batch.to(self._device)
            if self._dtype is not None:
                x = x.to(self._dtype)
            feats = self._model.encode_image(x)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32)

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 arrays from `to_input_array` -> (N, dim) unit vectors."""
        import torch

        return self.encode_tensor(self.normalize(torch.from_numpy(pixels)))

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
            encode = self._encode_text_prefix if self._fast_text else self._model.encode_text
            feats = encode(tokens)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
        return feats.cpu().numpy().astype(np.float32)

    def _encode_text_prefix(self, tokens):
        """open_clip CLIP.encode_text on only the tokens up to the last end-of-text token.

        The text tower is causal (each position attends only to earlier ones) and pools the
        end-of-text position, so the padding after it cannot change the result: running the first
        L positions (a typical query is ~10 of the 77) gives the same vector several times faster.
        """
        import torch

        m = self._model
        eot = tokens.argmax(dim=-1)
        n = int(eot.max()) + 1
        tokens = tokens[:, :n]
        cast = m.transformer.get_cast_dtype()
        x = m.token_embedding(tokens).to(cast) + m.positional_embedding[:n].to(cast)
        x = m.transformer(x, attn_mask=m.attn_mask[:n, :n])
        x = m.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        if isinstance(m.text_projection, torch.nn.Linear):
            return m.text_projection(x)
        return x @ m.text_projection


def _causal_argmax_text(model) -> bool:
    """True when the model is open_clip's CLIP with a causal text tower pooled at the argmax (EOT) token."""
    import open_clip
    import torch

    if type(model) is not open_clip.CLIP or getattr(model, "text_pool_type", None) != "argmax":
        return False
    mask = getattr(model, "attn_mask", None)
    if mask is None or mask.dim() != 2:
        return False
    causal = torch.full_like(mask, float("-inf")).triu_(1)
    return bool(torch.equal(mask, causal))
