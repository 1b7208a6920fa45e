#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Replay and resync through the real daemon and a real git daemon: a replayed delivery runs the
# sync plugins again (not refused as a duplicate of itself); an expired payload falls back to a
# resync; a resync brings back a tag deleted from the mirror; the access policy of the operator
# routes holds for the POST routes; and the CLI forms of each, including a daemon that is down.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon
new_repo_at acme/app "$TMP/work"
printf '{"name":"acme/app"}\n' >"$TMP/work/composer.json"
git -C "$TMP/work" add composer.json && git -C "$TMP/work" commit -qm one
git -C "$TMP/work" tag v1.0.0 && git -C "$TMP/work" push -q origin main v1.0.0
TIP=$(git -C "$TMP/work" rev-parse main)

CONF=$TMP/conf DATA=$TMP/data
mkdir -p "$CONF"
cat >"$TMP/hook.sh" <<HOOK
#!/bin/sh
echo "\$CARGOMAN_DELIVERY_ID \$CARGOMAN_REPOSITORY" >>"$TMP/runs"
HOOK
chmod +x "$TMP/hook.sh"
server_conf() {
    cat >"$CONF/00-server.conf" <<CONF
server = { workers = 1; $1 };
CONF
}
endpoints_conf() {
    cat >"$CONF/10-endpoints.conf" <<CONF
endpoints = (
  { name = "gh"; provider = "github"; url = "https://github.com"; secret = "$1";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; }
);
sync = ( { plugin = "exec"; command = "$TMP/hook.sh"; } );
CONF
}
server_conf ""
endpoints_conf s3cret
start_gateway "$CONF" "$DATA"

api() { curl -s "http://127.0.0.1:$PORT$1"; }
# act PATH [curl args]: POST an operator route, prints "CODE BODY".
act() {
    local p=$1
    shift
    curl -s -w ' %{http_code}' -X POST "http://127.0.0.1:$PORT$p" "$@" |
        python3 -c 'import sys; b, c = sys.stdin.read().rsplit(" ", 1); print(c, b)'
}
py() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
runs() { [ -f "$TMP/runs" ] && wc -l <"$TMP/runs" || echo 0; }
has_runs() { [ "$(runs)" -ge "$1" ]; }
state_of_rec() { api "/api/deliveries/$1" | py "d['state']"; }
is_done() { [ "$(state_of_rec "$1")" = done ]; }

github_push acme/app "$TIP" >"$TMP/push.json"
sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push.json" | sed -n 's/^X-Hub-Signature-256: //p')
r=$(post gh "$TMP/push.json" -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: $sig" -H "X-GitHub-Delivery: d-1")
expect_eq "the push is queued" "${r%% *}" 202
if wait_for has_runs 1; then ok "the exec plugin ran once"; else not_ok "no run: $(cat "$TMP/gateway.log")"; fi
REC=$(api '/api/deliveries?state=done' | py "d['deliveries'][0]['record_id']")

# --- 1. replay ---------------------------------------------------------------------------------
r=$(act "/api/deliveries/$REC/replay")
expect_eq "a replay is accepted" "${r%% *}" 202
expect_contains "it names what it replays" "$r" "\"replay_of\":$REC"
NEWREC=$(echo "${r#* }" | py "d['record_ids'][0]")
if wait_for has_runs 2; then ok "the replay ran the plugins again"; else not_ok "runs: $(runs)"; fi
expect_contains "the second run has a replay delivery id" "$(tail -n1 "$TMP/runs")" "replay-$REC-"
if wait_for is_done "$NEWREC"; then ok "the replay's record is done"; else not_ok "state $(state_of_rec "$NEWREC")"; fi
r=$(act "/api/deliveries/$REC/replay")
expect_eq "a second replay is not a duplicate either" "${r%% *}" 202
wait_for has_runs 3 && ok "and runs the plugins a third time" || not_ok "runs: $(runs)"
CLI=("$INST_BIN")
out=$("${CLI[@]}" replay -u "http://127.0.0.1:$PORT" "$REC" 2>&1)
expect_contains "cargoman replay queues it" "$out" "queued as delivery record"
wait_for has_runs 4 && ok "and the plugins run again" || not_ok "runs: $(runs)"
out=$("${CLI[@]}" replay -u "http://127.0.0.1:$PORT" 99999 2>&1)
expect_eq "cargoman replay of an unknown record fails" "$?" 1
expect_contains "saying so" "$out" "no delivery with this record_id"
expect_eq "without admin_token, a client through a proxy is refused" \
    "$(act "/api/deliveries/$REC/replay" -H 'X-Forwarded-For: 192.0.2.1' | cut -d' ' -f1)" 403
expect_eq "an unknown record is 404" "$(act /api/deliveries/99999/replay | cut -d' ' -f1)" 404
expect_eq "a malformed one is 400" "$(act /api/deliveries/x1/replay | cut -d' ' -f1)" 400
expect_eq "GET on the replay route is not a replay" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/deliveries/$REC/replay")" 400

# --- 2. resync of a tampered mirror ---------------------------------------------------------------
MIRROR=$(find "$DATA" -type d -name 'app.git' | head -n1)
git --git-dir="$MIRROR" tag -d v1.0.0 >/dev/null
expect_eq "the tag is gone from the mirror" "$(git --git-dir="$MIRROR" tag)" ""
before=$(runs)
r=$(act /api/repositories/gh/acme/app/resync)
expect_eq "a resync is accepted" "${r%% *}" 202
expect_contains "it is a resync" "$r" '"action":"resync"'
if wait_for has_runs $((before + 1)); then ok "the resync ran the plugins"; else not_ok "runs: $(runs)"; fi
has_tag() { [ "$(git --git-dir="$MIRROR" tag)" = v1.0.0 ]; }
if wait_for has_tag; then ok "the resync brought the tag back"; else not_ok "tags: $(git --git-dir="$MIRROR" tag)"; fi
git --git-dir="$MIRROR" tag -d v1.0.0 >/dev/null
out=$("${CLI[@]}" resync -u "http://127.0.0.1:$PORT" gh acme/app 2>&1)
expect_contains "cargoman resync queues it" "$out" "resync of gh/acme/app: queued"
if wait_for has_tag; then ok "and brings the tag back"; else not_ok "tags: $(git --git-dir="$MIRROR" tag)"; fi
out=$("${CLI[@]}" resync -u "http://127.0.0.1:$PORT" --all 2>&1)
expect_contains "cargoman resync --all resyncs every mirror" "$out" "resync of gh/acme/app: queued"
out=$("${CLI[@]}" resync -u "http://127.0.0.1:$PORT" gh acme/other 2>&1)
expect_eq "cargoman resync of a repository never mirrored fails" "$?" 1
expect_contains "saying so" "$out" "no such mirror"
expect_eq "an unknown endpoint is 404" "$(act /api/repositories/nope/acme/app/resync | cut -d' ' -f1)" 404
expect_eq "a repository never mirrored is 404" "$(act /api/repositories/gh/acme/other/resync | cut -d' ' -f1)" 404
# The names in the route pass the same repository-name floor as a webhook's: a path that
# climbs out of the mirrors, or names an inner .git, is no repository.
for hostile in '..%2F..%2Fetc' 'acme/..%2F..%2Fgh%2Facme%2Fapp' 'acme%2Fapp.git%2Fhooks'; do
    expect_eq "a resync of $hostile is 404" \
        "$(act "/api/repositories/gh/$hostile/resync" --path-as-is | cut -d' ' -f1)" 404
done
expect_eq "and nothing was made outside the mirrors" "$(ls "$TMP/data" | grep -c etc)" 0

# --- 3. a rotated secret: 409; an expired payload: a resync ----------------------------------------
endpoints_conf n3w
kill -HUP "$GW_PID"
new_secret() { [ "$(act "/api/deliveries/$REC/replay" | cut -d' ' -f1)" = 409 ]; }
if wait_for new_secret; then ok "a replay whose signature no longer verifies is 409"; else not_ok "$(act "/api/deliveries/$REC/replay")"; fi
expect_contains "with a reason" "$(act "/api/deliveries/$REC/replay")" "secret"
stop_gateway
server_conf "payload_retention = 1;"
start_gateway "$CONF" "$DATA"
expired() { api "/api/deliveries/$REC" | py "d['payload_expired']" | grep -q True; }
if wait_until 10 expired; then ok "the payload expired"; else not_ok "payload still kept"; fi
r=$(act "/api/deliveries/$REC/replay")
expect_eq "an expired payload is resynced instead" "${r%% *}" 202
expect_contains "and says so" "$r" "expired"

# --- 4. access: with admin_token set, none or a wrong one is 401 ------------------------------------
stop_gateway
server_conf "admin_token = \"0123456789abcdef0123\"; listen = \"127.0.0.1:$PORT\";"
start_gateway "$CONF" "$DATA"
expect_eq "a replay without the admin token is 401" "$(act "/api/deliveries/$REC/replay" | cut -d' ' -f1)" 401
expect_eq "a resync with a wrong token is 401" \
    "$(act /api/repositories/gh/acme/app/resync -H 'Authorization: Bearer no' | cut -d' ' -f1)" 401
expect_eq "with it, 202" \
    "$(act /api/repositories/gh/acme/app/resync -H 'Authorization: Bearer 0123456789abcdef0123' | cut -d' ' -f1)" 202

out=$("${CLI[@]}" resync -c "$CONF" gh acme/app 2>&1)
expect_contains "cargoman resync -c reads server.listen and server.admin_token" "$out" "queued"
out=$("${CLI[@]}" resync -u "http://127.0.0.1:$PORT" gh acme/app 2>&1)
expect_eq "without the token the CLI fails" "$?" 1
expect_contains "and says which token to set" "$out" "CARGOMAN_ADMIN_TOKEN"
out=$(CARGOMAN_ADMIN_TOKEN=0123456789abcdef0123 "${CLI[@]}" replay -u "http://127.0.0.1:$PORT" "$REC" 2>&1)
expect_contains "CARGOMAN_ADMIN_TOKEN is sent as the Bearer token" "$out" "queued"

stop_gateway
out=$("${CLI[@]}" replay -c "$CONF" "$REC" 2>&1)
expect_eq "with the daemon stopped the CLI fails" "$?" 1
expect_contains "and says it cannot reach it" "$out" "cannot reach the gateway at http://127.0.0.1:$PORT: is it running?"
finish
