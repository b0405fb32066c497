#!/usr/bin/env bash
# Set up and start the instrument in its simulator (Ctrl-C to stop). Without a sound card or
# MIDI, a JACK dummy server stands in: play it from any JACK MIDI client on port "promptsynth".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/promptsynth run --sim "$@"
