"""The reelfind command line (reelfind/cli.py wires the core, the service and the MCP surface)."""

import sys as _sys

if _sys.argv[1:2] == ["serve"] and _sys.argv[0].rsplit("/", 1)[-1] in ("reelfind", "__main__.py"):
    # `reelfind serve`: make SIGTERM a clean stop (exit 0) before the command's seconds of imports
    # (typer, pydantic, then torch, Chroma, the MCP SDK); see daemon/signals.py. Stdlib only here.
    from daemon.signals import stop_on_signals as _stop_on_signals

    _stop_on_signals(early_exit=True)
