#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Restart with a full queue: seconds from `cargoman serve` to /healthz 200, and the daemon's
# peak RSS (VmHWM) at that moment, with N pending entries (bench/spool_fill, the spool's own
# append) against the peer: the same start on an empty spool. Prints both and their ratio.
# Usage: bench/restart.sh BUILD_DIR [N] [REPOS]      defaults: 100000 entries, 1000 repositories
set -eu
BUILD=$(cd "${1:?usage: bench/restart.sh BUILD_DIR [N] [REPOS]}" && pwd)
N=${2:-100000}
REPOS=${3:-1000}
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/cm-restart-bench.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT

make -s -C "$BUILD" install DESTDIR="$TMP/inst" >/dev/null
make -s -C "$BUILD" bench/spool_fill >/dev/null
BIN=$(find "$TMP/inst" -path '*/bin/cargoman' | head -n1)
PLUGINS=$(dirname "$(find "$TMP/inst" -path '*/providers/github.so' | head -n1)")/..
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/conf"
# The entries' endpoint ("bench") is not served: workers retry them without any network.
echo 'endpoint = { name = "github"; provider = "github"; url = "https://github.com"; };' \
    >"$TMP/conf/10-endpoint.conf"

# start DATA_DIR: prints "SECONDS KIB" (to /healthz 200; VmHWM then), and stops the daemon.
start() {
    local t0 t1 hwm
    t0=$(date +%s.%N)
    "$BIN" serve -c "$TMP/conf" -d "$1" -l "127.0.0.1:$PORT" -P "$PLUGINS" >>"$TMP/log" 2>&1 &
    PID=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
        kill -0 "$PID" 2>/dev/null || { cat "$TMP/log" >&2; exit 1; }
        sleep 0.01
    done
    t1=$(date +%s.%N)
    hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status")
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
    echo "$(echo "$t1 - $t0" | bc -l) $hwm"
}

read -r e_s e_kb < <(start "$TMP/empty")
f0=$(date +%s.%N)
"$BUILD/bench/spool_fill" "$TMP/full" "$N" "$REPOS"
fill=$(echo "$(date +%s.%N) - $f0" | bc -l)
journal=$(du -k "$TMP/full/spool/journal" | cut -f1)
read -r f_s f_kb < <(start "$TMP/full")
printf 'spool of %d entries on %d repositories: %.1f MiB journal, written in %.1f s\n' \
    "$N" "$REPOS" "$(echo "$journal / 1024" | bc -l)" "$fill"
printf 'start with %6d pending: %6.2f s to /healthz 200, peak RSS %6.1f MiB\n' "$N" "$f_s" \
    "$(echo "$f_kb / 1024" | bc -l)"
printf 'start with empty spool:  %6.2f s to /healthz 200, peak RSS %6.1f MiB (the peer)\n' "$e_s" \
    "$(echo "$e_kb / 1024" | bc -l)"
printf 'ratio: %.1fx the start-up time, %.1fx the memory\n' "$(echo "$f_s / $e_s" | bc -l)" \
    "$(echo "$f_kb / $e_kb" | bc -l)"
