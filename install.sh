#!/usr/bin/env bash
# Sets up reelfind in ./.venv (Python 3.11+): torch, then the package with its dependencies.
# Usage: ./install.sh          runtime only
#        ./install.sh --test   also pytest and ruff
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "reelfind needs Python 3.11+"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torchvision must match torch exactly (open_clip imports it). These pairs are known to work here.
case "$(uname -m)" in
  aarch64|arm64) TORCH="torch==2.9.1 torchvision==0.24.1" ;;
  *)             TORCH="torch==2.14.1 torchvision==0.29.1" ;;
esac
.venv/bin/python -c 'import torch, torchvision' 2>/dev/null || .venv/bin/python -m pip install -q $TORCH
if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
echo "reelfind installed: $(.venv/bin/reelfind --help >/dev/null && echo .venv/bin/reelfind)" >&2
