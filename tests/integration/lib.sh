# Shared helpers for the integration tests: a scratch dir, an installed-layout gateway on a
# free loopback port, and assertions that count instead of stopping at the first failure.
# shellcheck shell=bash
set -u
: "${CM_SRCDIR:?run through make check}"
: "${CM_BUILDDIR:?run through make check}"

PASS=0
FAIL=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cargoman-it.XXXXXX")
GW_PID=
cleanup() {
    [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    for f in "$TMP"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    [ "${CM_KEEP_TMP:-0}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

need() {
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is not installed"; exit 77; }
    done
}

ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }

# expect_eq WHAT GOT WANT
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi
}
expect_contains() {
    case "$2" in *"$3"*) ok "$1" ;; *) not_ok "$1: '$2' lacks '$3'" ;; esac
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Install the build into $TMP/inst (the layout `make install` gives) once per test.
install_gateway() {
    make -s -C "$CM_BUILDDIR" install DESTDIR="$TMP/inst" >"$TMP/install.log" 2>&1 || {
        cat "$TMP/install.log"; echo "make install failed"; exit 1; }
    INST_BIN=$(find "$TMP/inst" -path '*/bin/cargoman' | head -n1)
    INST_PLUGINS=$(dirname "$(find "$TMP/inst" -path '*/providers/github.so' | head -n1)")/..
}

# start_gateway CONF_DIR DATA_DIR: runs `cargoman serve` on $PORT, waits for /healthz.
# With CM_VALGRIND=1 the daemon runs under valgrind, and any error or leak fails its exit.
start_gateway() {
    PORT=${PORT:-$(free_port)}
    local vg=
    [ "${CM_VALGRIND:-0}" = 1 ] && vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$TMP/valgrind.%p.log"
    $vg "$INST_BIN" serve -c "$1" -d "$2" -l "127.0.0.1:$PORT" -P "$INST_PLUGINS" \
        >>"$TMP/gateway.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$TMP/gateway.log"
    echo "gateway did not start"
    exit 1
}

# stop_gateway: SIGTERM, and the daemon must exit 0 (under valgrind: without errors or leaks).
stop_gateway() {
    local rc=0
    if [ -n "$GW_PID" ]; then
        kill -TERM "$GW_PID"
        wait "$GW_PID" || rc=$?
        expect_eq "gateway exits cleanly on SIGTERM" "$rc" 0
        [ "$rc" -eq 0 ] || cat "$TMP"/valgrind.*.log 2>/dev/null
    fi
    GW_PID=
}

# post ENDPOINT BODY_FILE [curl args...]: prints "CODE BODY".
post() {
    local ep=$1 file=$2 resp
    shift 2
    resp=$(mktemp "$TMP/resp.XXXXXX")
    curl -s -o "$resp" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/webhooks/$ep" \
        -H 'Content-Type: application/json' --data-binary "@$file" "$@"
    printf ' %s' "$(cat "$resp")"
    rm -f "$resp"
}

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
