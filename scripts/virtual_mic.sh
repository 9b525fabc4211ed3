#!/usr/bin/env bash
# Start a PulseAudio daemon with a virtual microphone "virtmic" fed from a FIFO, so the
# microphone tests run through real PortAudio on a machine without sound hardware.
#
#   scripts/virtual_mic.sh            start (idempotent); prints the FIFO path
#   scripts/virtual_mic.sh stop       stop the daemon
#
# Needs: apt-get install pulseaudio pulseaudio-utils libasound2-plugins libportaudio2
# The FIFO path is $VERBATIM_VIRTUAL_MIC_FIFO (default /tmp/verbatim-virtmic.fifo); the tests
# write 16 kHz mono s16le audio into it at real-time pace.
set -euo pipefail
FIFO="${VERBATIM_VIRTUAL_MIC_FIFO:-/tmp/verbatim-virtmic.fifo}"

if [[ "${1:-start}" == "stop" ]]; then
    pulseaudio --kill 2>/dev/null || true
    exit 0
fi
command -v pulseaudio >/dev/null || { echo "pulseaudio is not installed" >&2; exit 1; }
# As root, PulseAudio refuses per-user mode unless told; --system would need a pulse user.
ARGS=(--daemonize=yes --exit-idle-time=-1 --disallow-exit=no)
if ! pactl info >/dev/null 2>&1; then
    pulseaudio "${ARGS[@]}" 2>/dev/null || pulseaudio "${ARGS[@]}"
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! pactl list short sources | grep -q virtmic; then
    rm -f "$FIFO"
    pactl load-module module-pipe-source source_name=virtmic file="$FIFO" \
        format=s16le rate=16000 channels=1 >/dev/null
fi
pactl set-default-source virtmic
echo "$FIFO"
