#!/usr/bin/env bash
# on_sync's retry semantics (plugin.h), through the real daemon: a sync plugin that answers
# CM_EINVAL ("never, for this event") has the delivery given up at once, recorded failed with
# a reason, never retried, and the sync plugins after it still run.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
mkdir -p "$TMP/extra/plugins"
cp "$CM_BUILDDIR/tests/modules/.libs/t_giveup.so" "$TMP/extra/plugins/"
start_git_daemon
new_repo_at acme/never "$TMP/work"
date +%s%N >"$TMP/work/stamp"
git -C "$TMP/work" add stamp && git -C "$TMP/work" commit -qm one && git -C "$TMP/work" push -q origin main
TIP=$(git -C "$TMP/work" rev-parse main)

mkdir -p "$TMP/conf"
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "t_giveup"; },
         { plugin = "exec"; command = "cat > $TMP/after.json"; timeout = 10; } );
CONF
CM_SERVE_ARGS="-P $TMP/extra" start_gateway "$TMP/conf" "$TMP/data"

github_push acme/never "$TIP" >"$TMP/hook.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/webhooks/github" \
    -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: never-1' \
    --data-binary "@$TMP/hook.json")
expect_eq "the push is accepted" "$code" 202
state() {
    curl -s "http://127.0.0.1:$PORT/api/deliveries" | python3 -c '
import json, sys
d = [x for x in json.load(sys.stdin)["deliveries"] if x.get("delivery_id") == "never-1"]
print(d[0]["state"] if d else "none")'
}
failed() { [ "$(state)" = failed ]; }
if wait_for failed; then ok "the delivery is recorded failed"; else not_ok "state: $(state)"; fi
log=$(cat "$TMP/gateway.log")
expect_contains "the log gives up with the plugin's reason" "$log" "giving up: sync plugin t_giveup cannot act on this event"
if wait_for test -s "$TMP/after.json"; then ok "the sync plugin after it still ran"; else not_ok "exec did not run"; fi
expect_contains "and got the event" "$(cat "$TMP/after.json")" "acme/never"
expect_eq "no retry was scheduled" "$(grep -c 'acme/never: .*retrying in' "$TMP/gateway.log")" 0
expect_eq "the plugin ran once" "$(grep -c 't_giveup: never for acme/never' "$TMP/gateway.log")" 1
stop_gateway
finish
