#!/usr/bin/env bash
# Set up and run the whole test suite, lane by lane; exits non-zero if any lane fails.
#   py311       Python 3.11 with the CPU stack of constraints/dev.txt and Ray Serve: every test
#   py38        Python 3.8, the device's Python on JetPack 5, without torch: every test that needs none
#   py38-jp512  Python 3.8 with the JetPack 5.1.2+ stack (constraints/jetpack-5.1.2.txt: torch 2.1,
#               diffusers 0.35.2, transformers 4.46.3, accelerate): the tests marked torch
#   py38-jp511  Python 3.8 with the JetPack 5.1.1 stack (constraints/jetpack-5.1.1.txt: torch 2.0,
#               diffusers 0.31.0): the tests marked torch
#   lanes       each torch lane saved its tiny model; the earlier lanes load the later lanes' folders
#   lint        ruff (lint and format check) and mypy, on Python 3.8 (the device's Python)
# Extra arguments go to every pytest run (e.g. -x, -k name).
set -euo pipefail
cd "$(dirname "$0")/.."

# the torch lanes leave their tiny model here for the others (tests/conftest.py, tests/test_generator.py)
export PROMPTSYNTH_LANE_MODELS="$PWD/.lanes/models"

PY38="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.8.18/bin/python3.8"
if [ ! -x "$PY38" ]; then
  PY38="$(command -v python3.8 || true)"
fi

pytest_in() {   # pytest_in VENV ARGS...
  "$1/bin/python" -m pytest -q -p no:cacheprovider "${@:2}"
}

# venv_38 VENV PIP-ARGS...: a Python 3.8 venv with those installed; pip's output only if it fails
venv_38() {
  local venv=$1
  shift
  if [ -z "$PY38" ] || [ ! -x "$PY38" ]; then
    echo "no Python 3.8 interpreter (pyenv 3.8.18 absent): the device runs Python 3.8; install it with"
    echo "pyenv install 3.8.18"
    return 1
  fi
  [ -x "$venv/bin/python" ] || "$PY38" -m venv "$venv" || return 1
  if ! { "$venv/bin/python" -m pip install -q --upgrade "pip<25" &&
    "$venv/bin/python" -m pip install -q "$@"; } >"$venv/pip.log" 2>&1; then
    cat "$venv/pip.log"
    return 1
  fi
}

versions() {    # the stack a venv holds, for the lane's heading
  "$1/bin/python" - <<'EOF'
import sys
line = ["Python %d.%d.%d" % sys.version_info[:3]]
for name in ("torch", "diffusers", "transformers", "accelerate"):
    try:
        line.append("%s %s" % (name, __import__(name).__version__))
    except ImportError:
        pass
print(", ".join(line))
EOF
}

lane_py311() {
  scripts/setup.sh || return 1
  # the generation server's tests need Ray Serve (Python 3.10+): only this lane has it
  .venv/bin/python -m pip install -q -c constraints/dev.txt -e ".[server]" >.venv/pip-server.log 2>&1 ||
    { cat .venv/pip-server.log; return 1; }
  echo "    $(versions .venv): all tests"
  pytest_in .venv "$@"
}

lane_py38() {
  venv_38 .venv38 -c constraints/python-3.8.txt -e ".[test]" || return 1
  echo "    $(versions .venv38): tests that need no torch"
  pytest_in .venv38 -m "not torch" "$@"
}

lane_jetpack() {   # lane_jetpack RELEASE (5.1.2, 5.1.1) PYTEST-ARGS...
  local venv=".venv38-jp${1//./}"
  venv_38 "$venv" -c "constraints/jetpack-$1.txt" -e ".[test,generator]" || return 1
  echo "    $(versions "$venv"): tests marked torch"
  pytest_in "$venv" -m torch "${@:2}"
}

lane_lint() {      # ruff and mypy as pinned in pyproject's lint extra, in the Python 3.8 venv
  venv_38 .venv38 -c constraints/python-3.8.txt -e ".[test,lint]" || return 1
  echo "    $(.venv38/bin/ruff --version), $(.venv38/bin/mypy --version)"
  .venv38/bin/ruff check firmware tests scripts &&
    .venv38/bin/ruff format --check firmware tests scripts &&
    .venv38/bin/mypy
}

lane_lanes() {     # the lanes that ran first load the folders saved after them
  local venv
  for venv in .venv .venv38-jp512; do
    echo "    $(versions "$venv"): folders saved by the other lanes"
    pytest_in "$venv" tests/test_generator.py -k another_lane || return 1
  done
}

failed=()
run_lane() {       # run_lane NAME COMMAND...: a heading, the lane, its outcome and time
  local name=$1 start=$SECONDS
  shift
  echo
  echo "=== lane $name"
  if "$@"; then
    echo "=== lane $name: passed ($((SECONDS - start)) s)"
  else
    echo "=== lane $name: FAILED ($((SECONDS - start)) s)"
    failed+=("$name")
  fi
}

rm -rf .lanes
mkdir -p "$PROMPTSYNTH_LANE_MODELS"
# every lane builds pyalsaaudio (ALSA headers): the system packages come before the first lane
scripts/install-deps.sh
run_lane lint lane_lint
run_lane py311 lane_py311 "$@"
run_lane py38 lane_py38 "$@"
run_lane py38-jp512 lane_jetpack 5.1.2 "$@"
run_lane py38-jp511 lane_jetpack 5.1.1 "$@"
run_lane lanes lane_lanes

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== FAILED lanes: ${failed[*]}"
  exit 1
fi
echo "=== all lanes passed"
