"""open_clip model configs read as JSON files, without importing open_clip or torch.

The model identity (it names the vector collection) needs only the config's image size; importing
open_clip to read it costs seconds and ~1 GB (torch, torchvision), which `reelfind index` on an
unchanged folder must not pay. open_clip's registry is a folder of `<name>.json` files in its
package plus the files/folders given to `add_model_config`, later ones winning, keeping only
configs that have embed_dim, vision_cfg and text_cfg: this module reads the same files the same
way. `importlib.util.find_spec` locates the package without executing it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
_REQUIRED = ("embed_dim", "vision_cfg", "text_cfg")


def builtin_config_dir() -> Path | None:
    """open_clip's own model_configs folder, found without importing open_clip (None if absent)."""
    try:
        spec = importlib.util.find_spec("open_clip")
    except (ImportError, ValueError):
        return None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        d = Path(loc) / "model_configs"
        if d.is_dir():
            return d
    return None


def _candidates(name: str, extra: Path | None) -> list[Path]:
    """Files that open_clip would register under `name`, in registration order (last wins)."""
    out: list[Path] = []
    builtin = builtin_config_dir()
    for src in (builtin, extra):
        if src is None:
            continue
        if src.is_file() and src.suffix == ".json" and src.stem == name:
            out.append(src)
        elif src.is_dir() and (src / f"{name}.json").is_file():
            out.append(src / f"{name}.json")
    return out


def find_model_config(name: str, extra: Path | None = None) -> dict[str, Any] | None:
    """The config open_clip's `get_model_config(name)` returns after `add_model_config(extra)`.

    None when no file defines the model. Names on the Hugging Face hub (`hf-hub:`) are not
    handled here (their config must be downloaded): callers ask open_clip for those."""
    if name.startswith(HF_HUB_PREFIX):
        raise ValueError("hf-hub model configs are fetched by open_clip")
    if name.startswith(LOCAL_DIR_PREFIX):
        cfg = json.loads((Path(name[len(LOCAL_DIR_PREFIX):]) / "open_clip_config.json").read_text("utf-8"))
        return cfg.get("model_cfg", cfg)
    found = None
    for path in _candidates(name, Path(extra) if extra is not None else None):
        cfg = json.loads(path.read_text())
        if all(k in cfg for k in _REQUIRED):
            found = cfg
    return found


def image_size_of(cfg: dict[str, Any]) -> int:
    """open_clip's vision image size (an int or [h, w]; 224 if unset), as the indexer's crop size."""
    size = cfg.get("vision_cfg", {}).get("image_size", 224)
    return int(size if isinstance(size, int) else size[0])
