#!/usr/bin/env bash
# Installs everything Verbatim and its tests need on a fresh Debian/Ubuntu machine (run as root,
# or with sudo available): system libraries, then a virtual environment in .venv with the app.
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  python3 python3-venv python3-pip
  # sounddevice needs PortAudio; Qt's xcb platform needs these X11/XCB libraries
  libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-shape0
  libxcb-xinerama0 libxcb-randr0 libxcb-xfixes0 libxcb-xkb1 libglib2.0-0
  # tests: a virtual screen, a virtual microphone, and speech synthesis for long test audio
  xvfb xauth pulseaudio pulseaudio-utils libasound2-plugins espeak-ng
  # the privacy tests watch system calls (no network, no telemetry)
  strace
  # the desktop bundle: strip for smaller libraries, validators for the .desktop and metainfo files
  binutils desktop-file-utils appstream
)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
echo "Verbatim is installed in .venv: try .venv/bin/verbatim-cli --help"
