#!/usr/bin/env bash
# Runs lint, type checks and the whole test suite headless (installs first if .venv is missing).
# The run cleans up after itself: it gets a temporary folder of its own (TMPDIR), and on any exit
# (passed, failed, Ctrl+C, killed) the sound servers started in it are stopped and it is removed.
# A test session that leaves anything in it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
sources=(desktop_app tests)
for extra in benchmarks scripts; do [ -d "$extra" ] && sources+=("$extra"); done
.venv/bin/ruff check "${sources[@]}"
.venv/bin/ruff format --check "${sources[@]}"
.venv/bin/mypy

run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/verbatim-run-XXXXXXXX")
# Others may pass through (not list) it: a test checks file permissions as another user inside.
chmod 711 "$run_tmp"
clean_up() {
  # The virtual microphone's server keeps its pid file in its folder (scripts/virtual_mic.sh).
  find "$run_tmp" -path '*/pulse/pid' -print0 2>/dev/null |
    while IFS= read -r -d '' pid_file; do
      bash scripts/virtual_mic.sh stop "$(dirname "$pid_file")" || true
    done
  rm -rf "$run_tmp"
}
trap clean_up EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

status=0
TMPDIR=$run_tmp .venv/bin/pytest "$@" || status=$?
# A session removes its own folder (tests/conftest.py), so anything left here is a leak.
if [ "$status" -lt 128 ] && [ -n "$(ls -A "$run_tmp")" ]; then
  echo "The test run left files behind:" >&2
  find "$run_tmp" -mindepth 1 -maxdepth 3 >&2
  status=1
fi
exit "$status"
