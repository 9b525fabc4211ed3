#!/usr/bin/env bash
# Runs the whole test suite headless (installs first if .venv is missing), then lint and types.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check desktop_app tests benchmarks scripts
.venv/bin/ruff format --check desktop_app tests benchmarks scripts
.venv/bin/mypy
# The real-microphone tests talk to a PulseAudio virtual source when one can be started.
if [ -f scripts/virtual_mic.sh ]; then
  bash scripts/virtual_mic.sh start || echo "No virtual microphone: the PulseAudio tests will be skipped."
fi
.venv/bin/pytest "$@"
