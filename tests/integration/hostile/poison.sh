#!/usr/bin/env bash
# A poisoned spool and a stuck queue against the real daemon. A journal record with a valid
# checksum whose event does not read back ("changes":"oops") is logged, counted, recorded in
# failed.log, and syncing goes on: later pushes to the same repository still reach the mirror
# and /healthz stays 200. Then, with the only worker held by a slow sync, due work waits and
# /healthz answers 503, with the reason, once it has waited past server.healthz_max_due_age.
. "$(dirname "$0")/../lib.sh"
need curl python3 git

install_gateway
start_git_daemon
DEAD_PORT=$(free_port) # nothing listens there

new_repo_at acme/lib "$TMP/work/lib"
commit() {
    date +%s%N >"$TMP/work/lib/stamp"
    git -C "$TMP/work/lib" add stamp && git -C "$TMP/work/lib" commit -qm "c $(date +%s%N)"
    git -C "$TMP/work/lib" push -q origin main 2>/dev/null
    git -C "$TMP/work/lib" rev-parse main
}
# hook ENDPOINT REPO NEW: a GitHub push of main to REPO (owner/name) moved to NEW; prints "CODE BODY".
hook() {
    local f
    f=$(mktemp "$TMP/hook.XXXXXX")
    github_push "$2" "$3" >"$f"
    post "$1" "$f" -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $(date +%s%N)-$RANDOM"
}
mirror_head() { git --git-dir="$TMP/data/mirrors/github/acme/lib.git" rev-parse refs/heads/main 2>/dev/null; }
synced() { [ "$(mirror_head)" = "$1" ]; }
health() { curl -s -o "$TMP/health.txt" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz"; }
unhealthy() { [ "$(health)" = 503 ]; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; };
CONF
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
start_gateway "$TMP/conf" "$TMP/data"
first=$(commit)
r=$(hook github acme/lib "$first")
expect_eq "a push before the poisoning is queued" "${r%% *}" 202
wait_for synced "$first" && ok "and synced" || not_ok "the first push was not synced"
stop_gateway

# --- the poisoned record ---------------------------------------------------------------------
# Two of them, one per worker: before the fix each stopped the worker that claimed it.
python3 - "$TMP/data/spool/journal" <<'PY'
import sys, time, zlib
event = '{"provider":"github","endpoint":"github","repository":"acme/lib","changes":"oops"}'
with open(sys.argv[1], "ab") as f:
    for rid, key in ((900001, "github/acme/lib"), (900002, "github/acme/other")):
        payload = "A %d %d %s - %s" % (rid, int(time.time()), key, event)
        b = payload.encode()
        f.write(b"%d %08x " % (len(b), zlib.crc32(b)) + b + b"\n")
PY
start_gateway "$TMP/conf" "$TMP/data"
unreadable() { grep -c 'does not read back as an event' "$TMP/gateway.log"; }
both_logged() { [ "$(unreadable)" -ge 2 ]; }
wait_for both_logged
expect_eq "each poisoned record is logged once" "$(unreadable)" 2
expect_contains "with the parse error" "$(cat "$TMP/gateway.log")" '"changes" is not an array'
expect_contains "and what became of it" "$(cat "$TMP/gateway.log")" "recorded as failed"
expect_eq "and counted in /metrics" "$(metric cargoman_queue_unreadable_total)" 2
failed=$(grep -c '"id":90000[12],' "$TMP/data/spool/failed.log")
expect_eq "both are in failed.log" "$failed" 2
second=$(commit)
r=$(hook github acme/lib "$second")
expect_eq "a later push to the same repository is queued" "${r%% *}" 202
wait_for synced "$second" && ok "and synced" || not_ok "a push after the poisoned records was not synced: mirror at '$(mirror_head)', want $second"
third=$(commit)
r=$(hook github acme/lib "$third")
wait_for synced "$third" && ok "so is the next one (both workers live)" || not_ok "the next push was not synced"
expect_eq "/healthz is 200" "$(health)" 200
expect_eq "the spool is empty" "$(metric cargoman_spool_depth)" 0
stop_gateway

# --- every worker stuck: /healthz 503 past healthz_max_due_age ------------------------------
# One worker, held by a sync plugin that sleeps; a second push is due and waits for it.
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; healthz_max_due_age = 2; };
CONF
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "busy"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "exec"; command = "touch '$TMP/held'; sleep 20"; timeout = 30; } );
CONF
rm -rf "$TMP/data"
start_gateway "$TMP/conf" "$TMP/data"
expect_eq "/healthz is 200 with an empty queue" "$(health)" 200
r=$(hook busy acme/lib "$(commit)")
expect_eq "a push whose sync will hold the only worker is queued" "${r%% *}" 202
wait_for test -f "$TMP/held" && ok "its sync holds the worker" || not_ok "the sync never started"
r=$(hook busy acme/other "$(printf '2%.0s' $(seq 1 40))")
expect_eq "a second push is queued" "${r%% *}" 202
wait_for unhealthy && ok "/healthz turns 503 once due work has waited past 2 s" || not_ok "/healthz stayed $(health)"
body=$(cat "$TMP/health.txt")
expect_contains "saying why" "$body" "the oldest due job has waited"
expect_contains "and which key" "$body" "server.healthz_max_due_age = 2s"
expect_eq "in one line" "$(wc -l <"$TMP/health.txt" | tr -d ' ')" 1
case "$body" in *"$TMP"* | *127.0.0.1* | *acme/*) not_ok "the reason names a path, URL or repository: $body" ;;
*) ok "the reason names no path, URL or repository" ;; esac
stop_gateway
finish
