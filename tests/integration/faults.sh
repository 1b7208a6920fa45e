#!/usr/bin/env bash
# Faults of the git host, against real servers on loopback: a `git daemon` that stops and comes
# back on the same port, and git http-backend behind lighttpd's basic auth that refuses the
# token until SIGHUP brings the right one. Each time the sync is retried with backoff, the
# failure shows in /api/repositories and /metrics, and every acknowledged push ends synced.
. "$(dirname "$0")/lib.sh"
need curl python3 git
[ -x /usr/sbin/lighttpd ] || { echo "SKIP: lighttpd is not installed"; exit 77; }
[ -x /usr/lib/git-core/git-http-backend ] || { echo "SKIP: git-http-backend is missing"; exit 77; }

install_gateway
start_git_daemon

# restart_git_daemon: the git daemon again, on the port it had before.
restart_git_daemon() {
    rm -f "$TMP/gitd.pid"
    git daemon --export-all --base-path="$TMP/git" --listen=127.0.0.1 --port="$GIT_PORT" \
        --reuseaddr --pid-file="$TMP/gitd.pid" --detach "$TMP/git"
}
git_answers() { git ls-remote "$(git_url acme/down)" >/dev/null 2>&1; }
git_silent() { ! git_answers; }

# git http-backend serving $TMP/srv/git, only to alice:s3cret-Token.
mkdir -p "$TMP/srv/git/acme"
echo 'alice:s3cret-Token' >"$TMP/lighttpd.users"
start_git_http "$TMP/srv/git" "$TMP/lighttpd.users"

# work NAME: a work tree with one commit on main; tip NAME: its commit.
work() {
    git init -q -b main "$TMP/work/$1"
    git -C "$TMP/work/$1" config user.email t@example.com
    git -C "$TMP/work/$1" config user.name t
    date +%s%N >"$TMP/work/$1/stamp"
    git -C "$TMP/work/$1" add stamp && git -C "$TMP/work/$1" commit -qm "c $1"
}
tip() { git -C "$TMP/work/$1" rev-parse main; }
mirror_head() { git --git-dir="$TMP/data/mirrors/$1/acme/$2.git" rev-parse refs/heads/main 2>/dev/null; }
synced() { [ "$(mirror_head "$1" "$2")" = "$(tip "$2")" ]; }

# hook ENDPOINT NAME: a GitHub push of NAME's head to ENDPOINT; prints "CODE BODY".
hook() {
    github_push "acme/$2" "$(tip "$2")" >"$TMP/hook.json"
    post "$1" "$TMP/hook.json" -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $(date +%s%N)-$RANDOM"
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
failed_fetches() { metric 'cargoman_fetches_total{result="error"}'; }
failed_more_than() { [ "$(failed_fetches)" -gt "$1" ]; }
# repo_field ENDPOINT NAME FIELD: that field of the repository in /api/repositories.
repo_field() {
    curl -s "http://127.0.0.1:$PORT/api/repositories" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
rows = doc if isinstance(doc, list) else doc.get("repositories", [])
for r in rows:
    if r.get("endpoint") == sys.argv[1] and r.get("repository") == "acme/" + sys.argv[2]:
        print(r.get(sys.argv[3]) or "")' "$@"
}
repo_error_has() { case "$(repo_field "$1" "$2" last_error)" in *"$3"*) return 0 ;; esac; return 1; }
# retry_delays NAME: the delays the log gave for NAME's retries, one per line.
retry_delays() { sed -n "s/.*acme\/$1: .*retrying in \([0-9]*\)s$/\1/p" "$TMP/gateway.log"; }

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; };
git = { auth_user = "alice"; auth_token = "wrong-Token-42"; };
CONF
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoints = (
  { name = "github"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; },
  { name = "private"; provider = "github"; url = "https://github.com";
    clone_url = "http://127.0.0.1:$LPORT/git/{repository}.git"; }
);
CONF
start_gateway "$TMP/conf" "$TMP/data"

# 1. The git host goes down after a first sync, and comes back on the same port.
new_repo_at acme/down "$TMP/work/down"
date +%s%N >"$TMP/work/down/stamp"
git -C "$TMP/work/down" add stamp && git -C "$TMP/work/down" commit -qm first
git -C "$TMP/work/down" push -q origin main
r=$(hook github down)
expect_eq "push accepted while the host is up" "${r%% *}" 202
if wait_until 30 synced github down; then ok "first push synced"; else not_ok "first push not synced"; fi

date +%s%N >"$TMP/work/down/stamp"
git -C "$TMP/work/down" commit -qam second
git -C "$TMP/work/down" push -q origin main
kill "$(cat "$TMP/gitd.pid")"
wait_until 10 git_silent
before=$(failed_fetches)
r=$(hook github down)
expect_eq "push accepted while the host is down" "${r%% *}" 202
# Two failed attempts at least: the first one and a retry after its backoff.
if wait_until 30 failed_more_than $((before + 1)); then
    ok "failed fetches counted in /metrics ($(failed_fetches))"
else
    not_ok "failed fetches not counted: $(failed_fetches)"
fi
err=$(repo_field github down last_error)
if [ -n "$err" ]; then ok "/api/repositories shows the last error: $err"; else not_ok "/api/repositories has no last_error"; fi
delays=$(retry_delays down | tr '\n' ' ')
# The backoff doubles (with up to a quarter more of jitter): 1-2 s, then 2-3 s, ...
first=$(retry_delays down | head -n1) second=$(retry_delays down | sed -n 2p)
if [ -n "$second" ] && [ "$second" -gt "$first" ]; then
    ok "retried with a growing backoff ($delays)"
else
    not_ok "no growing backoff in the log: '$delays'"
fi
expect_eq "the mirror stays at the first push meanwhile" "$(mirror_head github down)" \
    "$(git -C "$TMP/work/down" rev-parse main~1)"
restart_git_daemon
wait_until 10 git_answers
if wait_until 60 synced github down; then ok "synced once the host is back"; else not_ok "never synced after the host came back"; fi
down_cleared() { [ -z "$(repo_field github down last_error)" ]; }
if wait_until 10 down_cleared; then cleared=1; else cleared=0; fi
expect_eq "and the last error is cleared" "$cleared" 1

# 2. The host refuses the credentials until a reload brings the right token.
work cred
git clone -q --bare "$TMP/work/cred" "$TMP/srv/git/acme/cred.git"
before=$(failed_fetches)
r=$(hook private cred)
expect_eq "push accepted while the token is wrong" "${r%% *}" 202
if wait_until 30 failed_more_than $((before + 1)); then ok "refused fetches counted and retried"; else not_ok "refused fetch not retried: $(failed_fetches)"; fi
if wait_until 10 repo_error_has private cred "authentication"; then
    ok "/api/repositories says the host refused the credentials"
else
    not_ok "last_error does not name the refusal: '$(repo_field private cred last_error)'"
fi
expect_eq "the token is not in /api/repositories" \
    "$(curl -s "http://127.0.0.1:$PORT/api/repositories" | grep -c 'wrong-Token-42')" 0
expect_eq "nor in the log" "$(grep -c 'wrong-Token-42' "$TMP/gateway.log")" 0
sed -i 's/wrong-Token-42/s3cret-Token/' "$TMP/conf/00-server.conf"
reloads=$(grep -c 'configuration reloaded' "$TMP/gateway.log")
kill -HUP "$GW_PID"
wait_until 10 sh -c '[ "$(grep -c "configuration reloaded" "$1")" -gt "$2" ]' _ "$TMP/gateway.log" "$reloads"
if wait_until 60 synced private cred; then ok "synced once SIGHUP brought the right token"; else not_ok "never synced after the token was fixed"; fi
expect_eq "nothing was given up" "$(grep -c 'giving up' "$TMP/gateway.log")" 0

stop_gateway
kill "$(cat "$TMP/gitd.pid")" 2>/dev/null
finish
