#!/usr/bin/env bash
# Set up and run the whole test suite: Python 3.11 (everything), then Python 3.8 (the device's
# Python on JetPack 5: every test that needs no torch). Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
rc=0
echo "=== Python $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])'): all tests"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || rc=1

PY38="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.8.18/bin/python3.8"
if [ ! -x "$PY38" ]; then
  PY38="$(command -v python3.8 || true)"
fi
if [ -z "$PY38" ] || [ ! -x "$PY38" ]; then
  echo "=== Python 3.8 lane: NOT RUN - no Python 3.8 interpreter on this machine (pyenv 3.8.18 absent)"
  echo "=== The device runs Python 3.8: install it (pyenv install 3.8.18) to prove compatibility."
  exit $rc
fi
[ -x .venv38/bin/python ] || "$PY38" -m venv .venv38
.venv38/bin/python -m pip install -q --upgrade "pip<25"
.venv38/bin/python -m pip install -q -e ".[test]"
echo "=== Python $(.venv38/bin/python -c 'import sys; print(sys.version.split()[0])'): tests that need no torch"
.venv38/bin/python -m pytest -q -p no:cacheprovider -m "not torch" "$@" || rc=1
exit $rc
