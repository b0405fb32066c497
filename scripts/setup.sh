#!/usr/bin/env bash
# Create .venv with promptsynth and its test tools (Python 3.8+; 3.11 here).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: this machine's torch==2.13.0 is a local CPU build; anything else would pull CUDA
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -c constraints/dev.txt -e ".[test,generator,sim]"
