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

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds (0) or the deadline passes
# (1). Tests poll for the state they then assert, instead of sleeping a guessed time.
wait_until() {
    local end=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# wait_for CMD...: wait_until with the usual deadline, WAIT_SECONDS (30 unless set).
wait_for() { wait_until "${WAIT_SECONDS:-30}" "$@"; }

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

# start_gateway CONF_DIR DATA_DIR: runs `cargoman serve` on $PORT (with $CM_SERVE_ARGS, e.g.
# --log-format=json), waits for /healthz and for its "listening on" line: the HTTP threads
# answer before the main thread has logged it (under valgrind, visibly later), and tests read
# that line.
# With CM_VALGRIND=1 the daemon runs under valgrind, and any error or leak fails its exit.
start_gateway() {
    PORT=${PORT:-$(free_port)}
    local vg= before
    before=$(grep -c 'listening on' "$TMP/gateway.log" 2>/dev/null || true)
    [ "${CM_VALGRIND:-0}" = 1 ] && vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$TMP/valgrind.%p.log"
    $vg "$INST_BIN" serve -c "$1" -d "$2" -l "127.0.0.1:$PORT" -P "$INST_PLUGINS" \
        ${CM_SERVE_ARGS:-} >>"$TMP/gateway.log" 2>&1 &
    GW_PID=$!
    for _ in $(seq 1 300); do
        if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
            for _ in $(seq 1 100); do
                [ "$(grep -c 'listening on' "$TMP/gateway.log" 2>/dev/null)" -gt "${before:-0}" ] &&
                    break
                sleep 0.1
            done
            return 0
        fi
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

# start_git_daemon: a `git daemon` on a free loopback port serving $TMP/git (pushes allowed);
# sets GIT_PORT, and git_url PATH gives a repository's URL. GIT_DAEMON_ARGS adds options
# (e.g. --access-hook=SCRIPT to count fetches).
start_git_daemon() {
    GIT_PORT=$(free_port)
    mkdir -p "$TMP/git"
    # shellcheck disable=SC2086
    git daemon --export-all --enable=receive-pack --base-path="$TMP/git" --listen=127.0.0.1 \
        --port="$GIT_PORT" --reuseaddr --pid-file="$TMP/gitd.pid" ${GIT_DAEMON_ARGS:-} \
        --detach "$TMP/git"
    for _ in $(seq 1 50); do
        [ -f "$TMP/gitd.pid" ] && git ls-remote "git://127.0.0.1:$GIT_PORT/none" 2>&1 |
            grep -q 'not exported\|access denied\|does not appear' && return 0
        sleep 0.1
    done
}
git_url() { echo "git://127.0.0.1:$GIT_PORT/$1.git"; }

# start_git_http ROOT [USERS_FILE]: git http-backend behind lighttpd on a free loopback port
# (sets LPORT), serving the bare repositories under ROOT as http://127.0.0.1:$LPORT/git/<path>;
# with USERS_FILE ("user:password" lines), only to those users, over HTTP basic auth.
start_git_http() {
    local auth=
    LPORT=$(free_port)
    [ -n "${2:-}" ] && auth="auth.backend = \"plain\"
auth.backend.plain.userfile = \"$2\"
auth.require = (\"/git/\" => (\"method\" => \"basic\", \"realm\" => \"git\", \"require\" => \"valid-user\"))"
    cat >"$TMP/lighttpd.conf" <<CONF
server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_cgi", "mod_setenv")
server.document-root = "$1"
server.bind = "127.0.0.1"
server.port = $LPORT
server.errorlog = "$TMP/lighttpd-error.log"
alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/")
\$HTTP["url"] =~ "^/git/" {
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "$1", "GIT_HTTP_EXPORT_ALL" => "1")
}
$auth
CONF
    /usr/sbin/lighttpd -D -f "$TMP/lighttpd.conf" >"$TMP/lighttpd.log" 2>&1 &
    echo $! >"$TMP/lighttpd.pid"
    wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$LPORT/" || {
        cat "$TMP/lighttpd.log" "$TMP/lighttpd-error.log" 2>/dev/null
        echo "lighttpd did not start"
        exit 1
    }
}

# new_repo_at PATH WORKDIR: an empty bare repository PATH (e.g. acme/foo) on the git daemon, HEAD
# on main, and a work tree WORKDIR on main whose origin is that repository.
new_repo_at() {
    git init -q --bare "$TMP/git/$1.git"
    git -C "$TMP/git/$1.git" symbolic-ref HEAD refs/heads/main
    git init -q -b main "$2"
    git -C "$2" config user.email t@example.com
    git -C "$2" config user.name t
    git -C "$2" remote add origin "$(git_url "$1")"
}

# foo_package WORKTREE: acme/foo's v1.0.0 (Foo::V = 1) and v1.1.0 (V = 2) committed on what
# WORKTREE (made by new_repo_at) holds, and pushed with main.
foo_package() {
    cat >"$1/composer.json" <<'JSON'
{"name": "acme/foo", "description": "test package", "type": "library", "license": "MIT",
 "autoload": {"psr-4": {"Acme\\Foo\\": "src/"}}}
JSON
    mkdir -p "$1/src" && echo '<?php namespace Acme\Foo; class Foo { const V = 1; }' >"$1/src/Foo.php"
    git -C "$1" add -A && git -C "$1" commit -qm one && git -C "$1" tag v1.0.0
    echo '<?php namespace Acme\Foo; class Foo { const V = 2; }' >"$1/src/Foo.php"
    git -C "$1" commit -qam two && git -C "$1" tag v1.1.0
    git -C "$1" push -q origin main v1.0.0 v1.1.0
}

# start_composer_gateway NAME PROVIDER URL [SYNC_KEYS]: the gateway on a free port with one
# endpoint whose repositories are fetched from the git daemon, and the composer sync plugin
# (SYNC_KEYS added to its entry, e.g. 'tokens = [ "ci:t0ken" ];'). Settings of its own may
# already be in $TMP/conf (e.g. 00-server.conf).
start_composer_gateway() {
    PORT=$(free_port)
    mkdir -p "$TMP/conf"
    cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "$1"; provider = "$2"; url = "$3";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$PORT"; ${4:-} } );
CONF
    start_gateway "$TMP/conf" "$TMP/data"
}

# github_push REPO NEW: the JSON of a GitHub push moving REPO's (owner/name) main from
# 111...1 to NEW, with github.com's clone URLs (endpoints under test fetch through clone_url).
github_push() {
    python3 - "$1" "$2" <<'PY'
import json, sys, zlib
repo, new = sys.argv[1:3]
print(json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": new, "created": False,
  "deleted": False, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "repository": {"id": zlib.crc32(repo.encode()), "full_name": repo,
  "clone_url": "https://github.com/%s.git" % repo, "ssh_url": "git@github.com:%s.git" % repo,
  "html_url": "https://github.com/" + repo}}))
PY
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
