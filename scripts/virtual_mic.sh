#!/usr/bin/env bash
# A private PulseAudio server with one virtual microphone, "virtmic", fed from a FIFO, so the
# microphone tests run through real PortAudio on a machine without sound hardware, and one
# null sink, "nullsink", the speakers of the playback tests.
#
#   scripts/virtual_mic.sh DIR        run it until this script is stopped (SIGTERM or Ctrl+C);
#                                     prints the FIFO path once the server is ready
#   scripts/virtual_mic.sh stop DIR   stop the server of DIR if it still runs (after a crash)
#
# Everything lives in DIR: the socket (clients use PULSE_SERVER=unix:DIR/native), the pid file,
# the log (DIR/daemon.log), the server's state and the FIFO, into which a test writes 16 kHz mono
# s16le audio at real-time pace. The server loads no configuration and no other module, so the
# user's own sound server, and another test run's, are never touched.
#
# Needs: apt-get install pulseaudio pulseaudio-utils libasound2-plugins libportaudio2
set -euo pipefail

if [[ "${1:-}" == "stop" ]]; then
    dir=${2:?usage: scripts/virtual_mic.sh stop DIR}
    [[ -f "$dir/pid" ]] || exit 0
    pid=$(cat "$dir/pid")
    # --kill checks that the pid file names a running pulseaudio before it signals it.
    PULSE_RUNTIME_PATH="$dir" pulseaudio --kill 2>/dev/null || exit 0
    for _ in $(seq 100); do  # until it is gone (a zombie left to an init that never reaps counts)
        state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
        [[ -z "$state" || "$state" == Z* ]] && exit 0
        sleep 0.1
    done
    echo "The PulseAudio server $pid of $dir did not stop." >&2
    exit 1
fi

dir=${1:?usage: scripts/virtual_mic.sh DIR}
command -v pulseaudio >/dev/null || { echo "pulseaudio is not installed" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
fifo="$dir/virtmic.fifo"
export PULSE_RUNTIME_PATH="$dir" PULSE_STATE_PATH="$dir/state" PULSE_SERVER="unix:$dir/native"
# -n: no default script and so no other module; the socket is in DIR, so anonymous is private.
pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=yes \
    --log-target="file:$dir/daemon.log" \
    -L "module-native-protocol-unix auth-anonymous=1" \
    -L "module-pipe-source source_name=virtmic file=$fifo format=s16le rate=16000 channels=1" \
    -L "module-null-sink sink_name=nullsink" &
server=$!
stop_server() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
trap stop_server EXIT  # also when it fails to start: never leave the server behind
trap 'exit 0' TERM INT
for _ in $(seq 600); do
    pactl info >/dev/null 2>&1 && break
    if ! kill -0 "$server" 2>/dev/null; then
        echo "PulseAudio did not start: $(cat "$dir/daemon.log" 2>/dev/null)" >&2
        exit 1
    fi
    sleep 0.1
done
pactl set-default-source virtmic >/dev/null
pactl set-default-sink nullsink >/dev/null  # playback tests play into it, heard by no one
echo "$fifo"
wait "$server"
