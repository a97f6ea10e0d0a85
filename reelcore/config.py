"""One pydantic-settings `Settings`: a TOML file plus REELFIND_* environment variables.

Precedence (highest first): explicit init kwargs, environment (`REELFIND_MODEL__NAME`),
the TOML file (`--config FILE` or `REELFIND_CONFIG`), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

VIDEO_EXTENSIONS = [
    "*.mp4", "*.m4v", "*.mov", "*.mkv", "*.webm", "*.avi", "*.mts", "*.m2ts", "*.ts",
    "*.mxf", "*.mpg", "*.mpeg", "*.wmv", "*.flv", "*.3gp", "*.ogv",
]
# Hidden files, editor/OS droppings and partial downloads/copies are never footage.
DEFAULT_EXCLUDE = [".*", "._*", "*~", "*.part", "*.partial", "*.tmp", "*.crdownload", "*.download", "~*"]


class ConfigError(Exception):
    """Invalid configuration; the message names the offending key."""


class _Section(BaseModel):
    """A config section: unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid")


class ModelSettings(_Section):
    name: str = "ViT-B-32"
    # A pretrained tag known to open_clip, a local checkpoint path, or "none" (random weights).
    pretrained: str = "laion2b_s34b_b79k"
    # Optional open_clip model-config JSON to register (custom or tiny test architectures).
    config_path: Path | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(32, ge=1, le=1024)
    # CPU threads for embedding; 0 = number of CPU cores. The indexer embeds this many batches side
    # by side, each on one torch thread (robust when the decoder or other processes share the cores).
    threads: int = Field(0, ge=0, le=256)
    # "fp32" (exact, default on CPU) or "bf16" (autocast; measured in bench/ before use).
    # "int8": the image tower exported to ONNX and run by ONNX Runtime with int8 weights (dynamic
    # quantisation) on CPU: ~2x the images/s of fp32 here, cosine >= 0.9997 to fp32 with random weights
    # (bench/encoders.py; re-check with your checkpoint). Needs the `onnx` package to export.
    precision: Literal["fp32", "bf16", "fp16", "int8"] = "fp32"


class SamplingSettings(_Section):
    interval: float = Field(1.0, gt=0, le=3600, description="seconds between sampled frames")
    detect_cuts: bool = True
    # Mean absolute difference of 32x32 grey thumbnails (0..255) above which a hard cut is declared.
    cut_threshold: float = Field(30.0, gt=0, le=255)
    # A sampled frame whose difference to the last kept frame is below this is dropped (span extended).
    dedup_threshold: float = Field(2.0, ge=0, le=255)
    thumbnail_size: int = Field(256, ge=32, le=1024, description="shorter side of stored JPEG thumbnails")
    max_decode_errors: int = Field(50, ge=0, description="corrupt packets tolerated before giving up on a file")
    # A decode that reads no packet and decodes no frame for this long (a wedged FFmpeg, a share
    # that hangs reads) ends that file as failed, retried with backoff, instead of stalling the worker.
    decode_stall_seconds: float = Field(180.0, gt=0, le=86400)
    # Which frames the decoder decodes at all (the costliest part of indexing 1080p footage):
    #   "fast" (default): keyframes only when they come at least every `interval` (camera originals),
    #          otherwise every reference frame (non-reference B-frames skipped). Cuts are detected
    #          among the decoded frames, so a cut is placed at the first decoded frame after it
    #          (within one keyframe interval with keyframes only). Several times faster on 1 s GOPs.
    #   "auto": like "fast" only when detect_cuts = false; with cut detection every frame is decoded.
    #   "all":  decode every frame (frame-accurate cuts).  "nonref" / "nonkey": force that skip mode.
    decode_mode: Literal["fast", "auto", "all", "nonref", "nonkey"] = "fast"


class StoreSettings(_Section):
    # None = embedded PersistentClient under data_dir/chroma; "http://host:port" = chroma server.
    url: str | None = None
    collection_prefix: str = "reelfind"
    hnsw_space: Literal["cosine"] = "cosine"
    # HNSW graph, fixed when a collection is created: M (max_neighbors) 32 and ef_construction 200.
    # Measured at 1M frame-like vectors (bench/README.md): build ~1,000 vectors/CPU-second.
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_construction_ef: int = Field(200, ge=10, le=2000)
    # Search depth; applied to existing collections too. Frame vectors are tightly clustered (a video
    # is hundreds of near-identical frames) and text queries sit outside the image cloud, so HNSW
    # needs a deep search: at 1M, recall@10 0.72 at 100 (Chroma's default), 0.83 at 200, 0.98 at 800,
    # 0.99 at 1200 for ~5 ms per query.
    hnsw_search_ef: int = Field(1200, ge=10, le=5000)
    hnsw_batch_size: int = Field(1000, ge=10)
    hnsw_sync_threshold: int = Field(5000, ge=10)


class RootSettings(_Section):
    path: Path
    watch: Literal["events", "poll"] = "events"
    poll_interval: float = Field(30.0, gt=0, description="seconds between polls when watch = poll")
    stable_seconds: float | None = Field(None, ge=0, description="default: 10 for events, 60 for poll")
    include: list[str] = Field(default_factory=lambda: list(VIDEO_EXTENSIONS))
    exclude: list[str] = Field(default_factory=lambda: list(DEFAULT_EXCLUDE))

    @property
    def effective_stable_seconds(self) -> float:
        if self.stable_seconds is not None:
            return self.stable_seconds
        return 10.0 if self.watch == "events" else 60.0


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    # Required when host is not a loopback address.
    token: SecretStr | None = None
    # `reelfind mcp` bridges to this URL when a service is running (default: http://host:port/mcp).
    url: str | None = None
    # Shared machines: ask for the token on loopback too (any local account can reach 127.0.0.1).
    require_token_on_loopback: bool = False

    @field_validator("token", mode="after")
    @classmethod
    def _token_not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        # An empty token would switch bearer auth off (it is falsy) while still passing the
        # "non-loopback needs a token" check: the endpoint would be open to the network.
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("is empty: set a real secret, or leave server.token out (loopback only)")
        return v


class QuerySettings(_Section):
    max_query_chars: int = Field(1000, ge=1, le=10000)
    max_limit: int = Field(200, ge=1, le=10000)
    # Hits closer than this (seconds) in one video merge into one moment.
    merge_gap: float = Field(2.0, ge=0)
    text_cache_size: int = Field(1024, ge=0)


class DaemonSettings(_Section):
    reconcile_minutes: float = Field(60.0, gt=0)
    retry_base_seconds: float = Field(60.0, gt=0)
    retry_max_seconds: float = Field(6 * 3600.0, gt=0)
    max_attempts: int = Field(8, ge=1)


class IndexSettings(_Section):
    # Start the next file's probe + decoder (its own bounded frame queue) as soon as this file's
    # decoder has finished, while its last batches embed: no idle core between short files.
    # Commits, cursor and "indexed" stay per file and in order (reelcore/channels/visual/indexer.py).
    prefetch_next: bool = True


class SpeechSettings(_Section):
    """The speech channel (reelcore/channels/speech): what is said, as time-coded transcript segments."""

    enabled: bool = True
    # Where speech comes from, in this order: "sidecar" (clip.srt / clip.vtt / clip.en.srt beside the
    # video), "stream" (text subtitle streams in the container: mov_text, subrip, ass/ssa, webvtt),
    # "asr" (faster-whisper on the audio; see asr_when; why it is on by default: config.example.toml).
    sources: list[Literal["sidecar", "stream", "asr"]] = Field(
        default_factory=lambda: ["sidecar", "stream", "asr"])
    # When ASR runs for a file that has subtitles: "no_subtitles" (only files without any, the
    # default: subtitles are exact where they exist), "other_language" (also when no subtitle is in
    # the language ASR detects as spoken), "always".
    asr_when: Literal["no_subtitles", "other_language", "always"] = "no_subtitles"
    # A faster-whisper model name (downloaded on first use into data_dir/models, like the CLIP
    # weights) or a local CTranslate2 model directory (works offline). See config.example.toml.
    asr_model: str = Field("base", min_length=1)
    # CTranslate2 compute type: "auto" = int8 on CPU, float16 on CUDA.
    asr_compute_type: Literal["auto", "int8", "int8_float32", "float16", "float32"] = "auto"
    asr_device: Literal["auto", "cpu", "cuda"] = "auto"
    asr_threads: int = Field(0, ge=0, le=256, description="CPU threads for ASR; 0 = CTranslate2's default")
    asr_beam_size: int = Field(1, ge=1, le=10)
    # Silero VAD (shipped with faster-whisper): skip silence before decoding.
    asr_vad: bool = True
    # A language code ("en", "de", ...) to skip detection; None = detected per file.
    asr_language: str | None = None
    # Longest transcript (characters) a sidecar or stream may contribute per file (bad input bound).
    max_chars_per_file: int = Field(5_000_000, ge=1000)


class TextSettings(_Section):
    """The text channel (reelcore/channels/text): on-screen text (slates, titles, lower thirds, signs).
    Each setting is part of the channel's identity: changing one re-reads every file (a backfill)."""

    enabled: bool = True
    # A picture that does not change is read again after this many seconds (a changing one is read
    # at most every 2 s, the first picture of a shot and text appearing on a still one at once).
    max_gap: float = Field(10.0, ge=1.0, le=600.0)
    # Lines read with less confidence (0..1) are dropped: texture read as text scores lower.
    min_confidence: float = Field(0.8, ge=0.0, le=1.0)
    # The text detector sees the picture at most this many pixels on its longer side (cost grows with
    # its square; 960 finds text 24 px tall in a 1080p picture).
    det_side: int = Field(960, ge=320, le=2560)


class PeopleSettings(_Section):
    """The people channel (reelcore/channels/people): faces found, followed, grouped and named.
    Face data is biometric: it stays in data_dir (and the store); `reelfind forget --channel people`
    deletes it all, `enabled = false` stops the passes and hides the results."""

    enabled: bool = True
    # Frames looked at per second of video. Faces are followed between consecutive samples, so
    # fewer samples means larger jumps between them (the tracker falls back to the embedding).
    sample_fps: float = Field(2.0, gt=0, le=30)
    # "hog": dlib's HOG frontal detector (~17 ms a 640x480 frame here, ~70 ms upsampled once);
    # "cnn": dlib's MMOD CNN (~1.2 s a 640x480 frame on this CPU: only with a CUDA build of dlib).
    detector: Literal["hog", "cnn"] = "hog"
    # Times the frame is doubled before detecting: HOG's window is 80 px, one upsample finds ~40 px
    # faces. Measured (bench/people_quality.py): upsample 1 finds 13/18 visible faces on friday.mp4
    # at ~18x the decode pass; upsample 0 finds 11/18 at ~6x, with thinner margins between people.
    upsample: int = Field(1, ge=0, le=2)
    # Frames are decoded with this shorter side at most (downscale only) before detection.
    frame_short_side: int = Field(720, ge=240, le=1024)
    min_face: int = Field(36, ge=16, le=512, description="faces smaller than this (px, box side) are ignored")
    best_frames: int = Field(3, ge=1, le=10, description="faces of a track that are embedded")
    # A track's vector joins the nearest person whose distance is under this (euclidean on unit
    # vectors of dlib's 128-d embedding). dlib's convention is 0.6 on raw descriptors, whose length
    # is ~1.5: ~0.4 here. Measured on the shared footage (bench/people_quality.py, 2 fps): same
    # person at most 0.25 (0.28 with upsample 0), different people at least 0.38 (0.31 with
    # upsample 0: two women in a grainy 1940 film); 0.30 sits between. Too low splits a person
    # (the user merges), too high merges two (harder to notice), so it errs low.
    match_threshold: float = Field(0.30, gt=0, le=2)
    crop_size: int = Field(112, ge=48, le=256, description="side of the JPEG face crop kept per track")

    @property
    def identity(self) -> str:
        """Engine + model + the settings that change which tracks and vectors come out."""
        return (f"dlib-{self.detector}-u{self.upsample}-s{self.frame_short_side}-resnet128-5pt"
                f"-f{self.sample_fps:g}-m{self.min_face}-b{self.best_frames}")


class ChannelsSettings(_Section):
    """Kinds of evidence besides the picture (the visual channel is always on). Passes run in this
    order after the visual one: speech (cheap with subtitles), text, people (the costliest)."""

    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    text: TextSettings = Field(default_factory=TextSettings)
    people: PeopleSettings = Field(default_factory=PeopleSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELFIND_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(default_factory=lambda: Path(os.path.expanduser("~/.local/share/reelfind")))
    roots: list[RootSettings] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    model: ModelSettings = Field(default_factory=ModelSettings)
    sampling: SamplingSettings = Field(default_factory=SamplingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    query: QuerySettings = Field(default_factory=QuerySettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(os.path.expanduser(str(v))).absolute()

    @model_validator(mode="after")
    def _token_required_off_loopback(self) -> Settings:
        if self.server.host not in ("127.0.0.1", "localhost", "::1") and self.server.token is None:
            raise ValueError(
                f"server.host={self.server.host!r} is not loopback: set server.token "
                "(REELFIND_SERVER__TOKEN) so the HTTP MCP endpoint is not open to the network"
            )
        if self.server.require_token_on_loopback and self.server.token is None:
            raise ValueError(
                "server.require_token_on_loopback = true needs server.token (REELFIND_SERVER__TOKEN): "
                "without one nobody could use the service"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file or os.environ.get("REELFIND_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    # Paths derived from data_dir, in one place.
    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbs"

    @property
    def models_dir(self) -> Path:
        """Downloaded channel models (the speech channel's faster-whisper weights)."""
        return self.data_dir / "models"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "reelfind.lock"

    @property
    def mcp_url(self) -> str:
        host = self.server.host
        if ":" in host and not host.startswith("["):  # an IPv6 address needs brackets in a URL
            host = f"[{host}]"
        return self.server.url or f"http://{host}:{self.server.port}/mcp"


_config_file: Path | None = None


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(settings)"
        lines.append(f"{key}: {e['msg']}")
    return "; ".join(lines)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings, raising ConfigError with the offending key(s) in the message."""
    global _config_file
    _config_file = None
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        _config_file = path.absolute()
    else:
        env_file = os.environ.get("REELFIND_CONFIG")
        if env_file and not Path(env_file).is_file():
            raise ConfigError(f"REELFIND_CONFIG points to a missing file: {env_file}")
    try:
        return Settings(**overrides)
    except ConfigError:
        raise
    except ValidationError as e:
        raise ConfigError(f"invalid configuration: {_describe(e)}") from None
    except (ValueError, OSError) as e:  # e.g. TOML syntax errors
        raise ConfigError(f"invalid configuration file: {e}") from None
