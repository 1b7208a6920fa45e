#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cargoman import` (issue 10, point 3) through the installed daemon, a git daemon and git
# http-backend behind lighttpd: an estate is imported without a single webhook and composer
# installs every package; --from FILE with comments; a repository the host lacks fails at
# once with the host's reason; progress ("objects") on a terminal through a slow link; the
# provider's clone path when an endpoint has no clone_url; the allow-list, an unknown endpoint
# and an endpoint with no URL to import from give errors that say what to change.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer unzip script
[ -x /usr/sbin/lighttpd ] || { echo "SKIP: lighttpd is not installed"; exit 77; }
[ -x /usr/lib/git-core/git-http-backend ] || { echo "SKIP: git-http-backend is missing"; exit 77; }

install_gateway
start_git_daemon

# package NAME TAG...: acme/NAME on the git daemon, a Composer package with these tags.
package() {
    local name=$1 w="$TMP/work/$1"
    shift
    new_repo_at "acme/$name" "$w"
    printf '{"name": "acme/%s", "type": "library", "license": "MIT"}\n' "$name" >"$w/composer.json"
    git -C "$w" add composer.json && git -C "$w" commit -qm "$name"
    for tag in "$@"; do
        echo "$tag" >"$w/VERSION" && git -C "$w" add VERSION && git -C "$w" commit -qm "$tag"
        git -C "$w" tag "$tag"
    done
    git -C "$w" push -q origin main "$@"
}
package a v1.0.0 v1.1.0
package b v1.0.0
package c v2.0.0
package d v1.0.0
package other v1.0.0
# big: enough objects that its fetch through the slow link below takes a few seconds.
package big v1.0.0
python3 - "$TMP/work/big" <<'PY'
import os, sys
for i in range(300):
    with open(os.path.join(sys.argv[1], "f%03d.bin" % i), "wb") as f:
        f.write(os.urandom(4096))
PY
git -C "$TMP/work/big" add -A && git -C "$TMP/work/big" commit -qm big && git -C "$TMP/work/big" push -q origin main

# A slow link to the git daemon: 8 KiB from it every 20 ms.
python3 - "$GIT_PORT" "$TMP/slow.port" <<'PY' &
import socket, sys, threading, time
target = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(8)
open(sys.argv[2] + ".tmp", "w").write(str(srv.getsockname()[1]))
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
def pipe(a, b, slow):
    try:
        while True:
            d = a.recv(8192)
            if not d:
                break
            b.sendall(d)
            if slow:
                time.sleep(0.02)
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, True), daemon=True).start()
PY
echo $! >"$TMP/slow.pid"
wait_until 10 test -f "$TMP/slow.port" || { echo "the slow link did not start"; exit 1; }
SLOW_PORT=$(cat "$TMP/slow.port")

# git http-backend behind lighttpd, serving the git daemon's repositories under /git/.
start_git_http "$TMP/git"

PORT=$(free_port)
mkdir -p "$TMP/conf"
echo 'server = { workers = 2; };' >"$TMP/conf/00-server.conf"
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "gh"; provider = "github"; url = "https://github.com"; repositories = [ "acme/*" ];
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; },
  { name = "slow"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$SLOW_PORT/{repository}.git"; },
  # No clone_url: imports fetch from url + the provider's clone path ({repository}.git).
  { name = "web"; provider = "github"; url = "http://127.0.0.1:$LPORT/git"; },
  # A host that is down: its imports wait for retries.
  { name = "down"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$(free_port)/{repository}.git"; },
  # No url and no clone_url: nothing to import from.
  { name = "dc"; provider = "bitbucket-datacenter"; }
);
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$PORT"; } );
CONF
start_gateway "$TMP/conf" "$TMP/data"
U="http://127.0.0.1:$PORT"
api() { curl -s "$U$1"; }
py() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
p2_has() { curl -sf "$U/p2/acme/$1.json" | grep -q "\"$2\""; }

# --- 1. an estate of three, no webhook ------------------------------------------------------
t0=$(date +%s)
out=$("$INST_BIN" import -u "$U" gh acme/a acme/b acme/c 2>&1)
expect_eq "cargoman import of three repositories exits 0" "$?" 0
expect_contains "and sums up" "$out" "imported 3 of 3 repositories"
expect_contains "not on a terminal, one line per repository as it ends" "$out" "gh/acme/b: imported"
for p in "a v1.1.0" "a v1.0.0" "b v1.0.0" "c v2.0.0"; do
    set -- $p
    if p2_has "$1" "$2"; then ok "acme/$1 $2 is published"; else not_ok "acme/$1 $2 missing: $(curl -s "$U/p2/acme/$1.json")"; fi
done
P="$TMP/project"
mkdir -p "$P"
cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "$U"}, {"packagist.org": false}],
 "require": {"acme/a": "^1.1", "acme/b": "^1.0", "acme/c": "^2.0"},
 "config": {"secure-http": false}, "minimum-stability": "stable"}
JSON
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
(cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer.log" 2>&1)
expect_eq "composer installs all three" "$(cat "$P"/vendor/acme/{a,b,c}/VERSION 2>/dev/null | tr '\n' ' ')" "v1.1.0 v1.0.0 v2.0.0 "
r=$(api /api/repositories/gh/acme/a | py "d['repository'], d['last_sync'] is not None, 'fetch' in d")
expect_eq "GET /api/repositories/<ep>/<repo> shows one mirror, no fetch running" "$r" "acme/a True False"
expect_eq "and 404 for one it does not know" "$(curl -s -o /dev/null -w '%{http_code}' "$U/api/repositories/gh/acme/zz")" 404

# --- 2. --from FILE ----------------------------------------------------------------------------
printf '# the rest of the estate\n\n  acme/d  \n# acme/nope\nacme/a\n' >"$TMP/list"
out=$("$INST_BIN" import -u "$U" gh --from "$TMP/list" 2>&1)
expect_eq "--from FILE exits 0" "$?" 0
expect_contains "importing what the file names, comments and blanks skipped" "$out" "imported 2 of 2 repositories"
p2_has d v1.0.0 && ok "acme/d is published" || not_ok "acme/d missing"
out=$(printf 'acme/b\n' | "$INST_BIN" import -u "$U" gh --from - 2>&1)
expect_contains "--from - reads standard input (a mirrored repository: a resync)" "$out" "imported 1 of 1"
printf 'acme/a\n\nacme/x y\n' >"$TMP/bad"
out=$("$INST_BIN" import -u "$U" gh --from "$TMP/bad" 2>&1)
expect_eq "a bad line is a usage error" "$?" 2
expect_contains "naming FILE:LINE" "$out" "$TMP/bad:3: \"acme/x y\" is not a repository name"
"$INST_BIN" import -u "$U" gh >/dev/null 2>&1
expect_eq "no repository is a usage error" "$?" 2

# --- 3. a repository the host lacks: failed at once, with the host's reason ---------------------
t0=$(date +%s)
out=$("$INST_BIN" import -u "$U" gh acme/nope acme/c 2>&1)
rc=$?
expect_eq "a missing repository makes the import exit 1" "$rc" 1
expect_contains "the summary counts it" "$out" "imported 1 of 2 repositories"
expect_contains "and names it with the host's reason" "$out" "failed: gh/acme/nope: "
expect_contains "the host's reason" "$out" "not exported"
[ $(($(date +%s) - t0)) -lt 30 ] && ok "quickly (no missing_repository_max_age wait)" || not_ok "took $(($(date +%s) - t0)) s"
REC=$(api '/api/deliveries?repository=acme/nope' | py "d['deliveries'][0]['record_id']")
expect_contains "its delivery record is failed with the reason" "$(api "/api/deliveries/$REC" | py "d['state'], d['error']")" "failed"
[ -e "$TMP/data/mirrors/gh/acme/nope.git" ] && not_ok "a mirror was left for the missing repository" || ok "nothing is left on disk for it"

# --- 4. progress on a terminal -------------------------------------------------------------------
script -qec "$INST_BIN import -u $U slow acme/big" /dev/null >"$TMP/pty.out" 2>&1
expect_eq "import on a terminal exits 0" "$?" 0
expect_contains "and shows the objects received while it fetches" "$(cat "$TMP/pty.out")" " objects, "
expect_contains "then the summary" "$(cat "$TMP/pty.out")" "imported 1 of 1 repositories"

# --- 5. the provider's clone path, over HTTP -----------------------------------------------------
out=$("$INST_BIN" import -u "$U" web acme/c 2>&1)
expect_eq "an endpoint without clone_url imports from url + the provider's clone path" "$?" 0
expect_eq "through git http-backend" "$(git --git-dir="$TMP/data/mirrors/web/acme/c.git" tag)" "v2.0.0"

# --- 6. errors that say what to change -------------------------------------------------------------
out=$("$INST_BIN" import -u "$U" gh other/x 2>&1)
expect_eq "a name outside the allow-list fails" "$?" 1
expect_contains "saying which key to change" "$out" "outside the repositories list of endpoint \"gh\""
out=$("$INST_BIN" import -u "$U" nope acme/a 2>&1)
expect_eq "an unknown endpoint fails" "$?" 1
expect_contains "saying so" "$out" "no such endpoint"
out=$("$INST_BIN" import -u "$U" dc PROJ/repo 2>&1)
expect_eq "an endpoint with nowhere to import from fails" "$?" 1
expect_contains "naming the key to set" "$out" "set url (or clone_url)"
# act PATH [curl args]: POST an operator route, prints the status.
act() {
    local p=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' -X POST "$U$p" "$@"
}
expect_eq "the route: outside the allow-list is 409" "$(act /api/repositories/gh/other/x/import)" 409
expect_eq "an unknown endpoint is 404" "$(act /api/repositories/nope/acme/a/import)" 404
expect_eq "a refused name is 400" "$(act '/api/repositories/gh/acme/..%2F..%2Fetc/import' --path-as-is)" 400
expect_eq "without admin_token, a client through a proxy is refused" \
    "$(act /api/repositories/gh/acme/a/import -H 'X-Forwarded-For: 192.0.2.1')" 403

# --- 7. a host that is down: said once it retries; Ctrl-C leaves the import queued ------------------
"$INST_BIN" import -u "$U" down acme/a >"$TMP/down.out" 2>&1 &
CLI_PID=$!
if wait_for grep -q 'down/acme/a: retrying: ' "$TMP/down.out"; then ok "a retry is said, not on a terminal"; else not_ok "$(cat "$TMP/down.out")"; fi
kill -INT "$CLI_PID"
wait "$CLI_PID"
expect_eq "Ctrl-C ends the command" "$?" 130
expect_contains "saying the import keeps running" "$(cat "$TMP/down.out")" "1 queued import keeps running in the gateway"
expect_contains "and it does" "$(api '/api/deliveries?repository=acme/a&endpoint=down' | py "d['deliveries'][0]['state']")" "retrying"

# --- 8. no webhook was sent at all ------------------------------------------------------------------
expect_eq "every delivery is one the gateway made" \
    "$(api '/api/deliveries?limit=1000' | py "sorted({x['delivery_id'].split('-')[0] for x in d['deliveries']})")" \
    "['import']"
expect_eq "and no webhook was answered" "$(grep -c ' delivery: ' "$TMP/gateway.log")" 0
stop_gateway
finish
