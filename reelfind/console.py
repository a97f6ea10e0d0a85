"""What every `reelfind` command module shares: the two consoles, the --config option, loading
the settings (a bad config is exit 2 with the key named)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reelcore.config import ConfigError, Settings, load_settings

err = Console(stderr=True, soft_wrap=True)  # logs, progress and errors: stdout may carry JSON
out = Console(soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (default: $REELFIND_CONFIG).", show_default=False),
]


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
