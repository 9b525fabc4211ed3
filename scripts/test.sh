#!/usr/bin/env bash
# Runs the whole test suite headless (installs first if .venv is missing), then lint and types.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
sources=(desktop_app tests)
for extra in benchmarks scripts; do [ -d "$extra" ] && sources+=("$extra"); done
.venv/bin/ruff check "${sources[@]}"
.venv/bin/ruff format --check "${sources[@]}"
.venv/bin/mypy
# The real-microphone tests talk to a PulseAudio virtual source when one can be started.
if [ -f scripts/virtual_mic.sh ]; then
  bash scripts/virtual_mic.sh start || echo "No virtual microphone: the PulseAudio tests will be skipped."
fi
.venv/bin/pytest "$@"
