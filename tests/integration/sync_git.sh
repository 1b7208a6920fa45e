#!/usr/bin/env bash
# The sync promises of the daemon, against a real `git daemon` on loopback: bursts coalesce,
# a webhook that arrives before its commit still ends synced, nothing acknowledged is lost to
# kill -9, the exec plugin gets each event, SIGHUP reloads (or keeps a good config), and a
# spool that cannot be written answers 503.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon

# new_repo NAME: acme/NAME on the git daemon and a work tree with one commit on main.
new_repo() {
    new_repo_at "acme/$1" "$TMP/work/$1"
    commit "$1"
}
# commit NAME: one more commit in the work tree (not pushed).
commit() {
    date +%s%N >"$TMP/work/$1/stamp"
    git -C "$TMP/work/$1" add stamp && git -C "$TMP/work/$1" commit -qm "c $(date +%s%N)"
}
push() { git -C "$TMP/work/$1" push -q origin main 2>/dev/null; }
head_of() { git -C "$TMP/work/$1" rev-parse main; }
mirror_head() { git --git-dir="$TMP/data/mirrors/github/acme/$1.git" rev-parse refs/heads/main 2>/dev/null; }

# body NAME NEW: a GitHub push delivery body for acme/NAME's main, in a new file; prints its path.
body() {
    local f
    f=$(mktemp "$TMP/hook.XXXXXX")
    github_push "acme/$1" "$2" >"$f"
    cp "$f" "$TMP/hook-$1.json"
    echo "$f"
}
deliver() { post github "$1" -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $(date +%s%N)-$RANDOM"; }
# hook NAME NEW: deliver a push webhook for acme/NAME's main.
hook() { deliver "$(body "$1" "$2")"; }
synced() { [ "$(mirror_head "$1")" = "$2" ]; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; };
CONF
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "exec"; command = "cat >> $TMP/exec.jsonl; echo >> $TMP/exec.jsonl"; timeout = 10; } );
CONF
start_gateway "$TMP/conf" "$TMP/data"

# 1. A burst of 40 pushes to one repository costs a handful of fetches: the pushes land
#    first, then their 40 webhooks arrive together, as hosts deliver them after a busy minute.
new_repo burst
push burst
ids=
for i in $(seq 1 40); do
    commit burst
    push burst
    ids="$ids $(head_of burst)"
done
bodies=
for id in $ids; do bodies="$bodies $(body burst "$id")"; done
hooks=
for f in $bodies; do
    deliver "$f" >/dev/null &
    hooks="$hooks $!"
done
# shellcheck disable=SC2086
wait $hooks
if wait_for synced burst "$(head_of burst)"; then ok "burst ends synced at the last push"; else not_ok "burst not synced"; fi
fetches=$(metric 'cargoman_fetches_total{result="ok"}')
if [ "${fetches:-99}" -le 10 ]; then ok "40 pushes cost $fetches fetches"; else not_ok "40 pushes cost $fetches fetches"; fi
# The mirror moves before the sync plugins run, so wait for the plugin's output itself.
WAIT_SECONDS=60 wait_for grep -q '"repository":"acme/burst"' "$TMP/exec.jsonl"
expect_contains "exec plugin got the event JSON" "$(cat "$TMP/exec.jsonl" 2>/dev/null)" '"repository":"acme/burst"'
# The lag is measured to the millisecond: a sub-second sync adds more than 0 to its sum (as
# whole seconds, the sum read 0 over any number of fast syncs).
lag_counted() { [ "$(metric cargoman_sync_lag_seconds_count)" -ge 1 ]; }
wait_for lag_counted
lag=$(metric cargoman_sync_lag_seconds_sum)
if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' "${lag:-0}"; then
    ok "sync lag has sub-second resolution (sum $lag)"
else
    not_ok "sync lag sum is '$lag' after a sync"
fi

# 2. A webhook sent before its commit is pushed still ends synced (verified sync + retry).
new_repo early
push early
commit early
r=$(hook early "$(head_of early)")
expect_eq "early webhook accepted" "${r%% *}" 202
# Push only once the first fetch has found the commit missing.
wait_until 30 grep -q "$(head_of early) is not yet at" "$TMP/gateway.log"
push early
if wait_for synced early "$(head_of early)"; then ok "early webhook ends synced after retry"; else not_ok "early webhook never synced"; fi
expect_contains "the early sync was retried, and the log says why" "$(cat "$TMP/gateway.log")" "not yet at refs/heads/main"

# 2b. A fetch that fails (here: the repository is not on the server yet; a wrong token or an
#     unknown host key fail the same way) is retried with backoff and ends synced once fixed.
git init -q -b main "$TMP/work/late"
git -C "$TMP/work/late" config user.email t@example.com
git -C "$TMP/work/late" config user.name t
commit late
r=$(hook late "$(head_of late)")
expect_eq "webhook for a repository the server does not have yet accepted" "${r%% *}" 202
wait_until 30 grep -q "acme/late: fetching" "$TMP/gateway.log"
git init -q --bare "$TMP/git/acme/late.git"
git -C "$TMP/work/late" push -q "$(git_url acme/late)" main
if wait_for synced late "$(head_of late)"; then ok "failed fetch retried until it synced"; else not_ok "failed fetch never synced"; fi
expect_contains "the fetch error was logged with the retry" "$(grep "acme/late: fetching" "$TMP/gateway.log" | head -n1)" "failed: remote error"

# 3. SIGHUP: a bad config is refused and the old one kept; a good one adds an endpoint.
echo 'endpoint = { name = "broken"; provider = "nosuch"; };' >"$TMP/conf/20-extra.conf"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'keeping the running configuration' "$TMP/gateway.log"
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/webhooks/github" -H 'Content-Type: application/json' -d '{}')
expect_eq "bad reload keeps the running endpoints" "$r" 400
expect_contains "and says why" "$(cat "$TMP/gateway.log")" 'keeping the running configuration'
echo 'endpoint = { name = "gitlab"; provider = "gitlab"; url = "https://gitlab.com"; };' >"$TMP/conf/20-extra.conf"
reloads=$(grep -c 'configuration reloaded' "$TMP/gateway.log")
kill -HUP "$GW_PID"
wait_until 10 sh -c '[ "$(grep -c "configuration reloaded" "$1")" -gt "$2" ]' _ "$TMP/gateway.log" "$reloads"
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/webhooks/gitlab" -H 'Content-Type: application/json' -H 'X-Gitlab-Event: Push Hook' -d '{}')
expect_eq "good reload serves the new endpoint" "$r" 400
rm -f "$TMP/conf/20-extra.conf"

# 4. kill -9 during a burst to 20 repositories: every acknowledged push is synced after restart.
for i in $(seq 1 20); do new_repo "k$i"; push "k$i"; done
acked=
for i in $(seq 1 20); do
    r=$(hook "k$i" "$(head_of "k$i")")
    [ "${r%% *}" = 202 ] && acked="$acked k$i"
done
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null
GW_PID=
expect_eq "all 20 pushes acknowledged before the kill" "$(echo $acked | wc -w)" 20
start_gateway "$TMP/conf" "$TMP/data"
lost=
for name in $acked; do
    wait_for synced "$name" "$(head_of "$name")" || lost="$lost $name"
done
expect_eq "no acknowledged push lost to kill -9" "$lost" ""
r=$(curl -s "http://127.0.0.1:$PORT/api/repositories")
expect_contains "after a restart the repositories API still lists mirrors synced before it" "$r" "$(head_of burst)"

# 5. SIGTERM leaves the spool for the next start and exits 0.
kill -TERM "$GW_PID"
wait "$GW_PID"
expect_eq "SIGTERM exits 0" "$?" 0
GW_PID=

# 6. A spool that cannot be written answers 503 with Retry-After, never 202.
mkdir -p "$TMP/conf-full"
cp "$TMP/conf/00-server.conf" "$TMP/conf/10-endpoint.conf" "$TMP/conf-full/"
PORT=$(free_port)
(ulimit -f 16; exec "$INST_BIN" serve -c "$TMP/conf-full" -d "$TMP/data-full" -l "127.0.0.1:$PORT" \
    -P "$INST_PLUGINS" >>"$TMP/gateway-full.log" 2>&1) &
GW_PID=$!
wait_for curl -sf "http://127.0.0.1:$PORT/healthz"
code=
for i in $(seq 1 200); do
    # A new push each time: the same one again would be a duplicate of the one waiting.
    sed "s/\"after\": *\"[0-9a-f]*\"/\"after\": \"$(printf '%040x' "$i")\"/" "$TMP/hook-burst.json" \
        >"$TMP/hook-full.json"
    code=$(curl -s -D "$TMP/headers" -o /dev/null -w '%{http_code}' -X POST \
        "http://127.0.0.1:$PORT/api/webhooks/github" -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: full-$i" --data-binary "@$TMP/hook-full.json")
    [ "$code" = 202 ] || break
done
expect_eq "full spool answers 503" "$code" 503
expect_contains "with Retry-After" "$(cat "$TMP/headers")" "Retry-After"
stop_gateway
finish
