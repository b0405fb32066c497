#!/usr/bin/env bash
# Create .venv with promptsynth and its test tools (Python 3.8+; 3.11 here).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
