#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The durable delivery log through the real daemon: deliveries of every kind survive a
# restart with their states; GET /api/deliveries pages and filters; GET /api/deliveries/<id>
# gives the payload as received (no secret header kept) until payload_retention drops it;
# kill -9 during a burst loses no acknowledged delivery, and a torn tail does not stop a start.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon
new_repo_at acme/good "$TMP/work"
date +%s%N >"$TMP/work/stamp"
git -C "$TMP/work" add stamp && git -C "$TMP/work" commit -qm one && git -C "$TMP/work" push -q origin main
TIP=$(git -C "$TMP/work" rev-parse main)

CONF=$TMP/conf DATA=$TMP/data
mkdir -p "$CONF"
server_conf() {
    cat >"$CONF/00-server.conf" <<CONF
server = { workers = 1; missing_repository_max_age = 1; $1 };
CONF
}
server_conf ""
cat >"$CONF/10-endpoints.conf" <<CONF
endpoints = (
  { name = "gh"; provider = "github"; url = "https://github.com"; secret = "s3cret";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; },
  { name = "open"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; }
);
CONF
start_gateway "$CONF" "$DATA"

api() { curl -s "http://127.0.0.1:$PORT$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$1"; }
# py EXPR: EXPR over the JSON on stdin as d, printed.
py() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# state_of DELIVERY_ID: the state of the record of that host delivery id (not its duplicates).
state_of() {
    api "/api/deliveries?limit=1000" |
        py "next((x['state'] for x in d['deliveries'] if x['delivery_id'] == '$1' and x['state'] != 'duplicate'), 'none')"
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }
signed_post() { # ENDPOINT FILE DELIVERY_ID EVENT [curl args]
    local ep=$1 f=$2 id=$3 ev=$4 sig
    shift 4
    sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$f" | sed -n 's/^X-Hub-Signature-256: //p')
    post "$ep" "$f" -H "X-GitHub-Event: $ev" -H "X-Hub-Signature-256: $sig" -H "X-GitHub-Delivery: $id" "$@"
}

# --- 1. every kind of delivery --------------------------------------------------------------
github_push acme/good "$TIP" >"$TMP/good.json"
github_push acme/missing "$TIP" >"$TMP/missing.json"
printf '{"zen":"z","hook_id":1,"hook":{"type":"Repository"}}' >"$TMP/ping.json"
r=$(signed_post gh "$TMP/good.json" d-ok push -H 'Authorization: Bearer auth-secret-abc' \
    -H 'X-Gitlab-Token: gl-secret-xyz')
expect_eq "a signed push is queued" "${r%% *}" 202
expect_eq "its redelivery is a duplicate" "$(signed_post gh "$TMP/good.json" d-ok push | cut -d' ' -f1)" 200
expect_eq "a bad signature is 401" \
    "$(post gh "$TMP/good.json" -H 'X-GitHub-Event: push' -H 'X-Hub-Signature-256: sha256=00' -H 'X-GitHub-Delivery: d-bad' | cut -d' ' -f1)" 401
expect_eq "a ping is 200" "$(signed_post gh "$TMP/ping.json" d-ping ping | cut -d' ' -f1)" 200
expect_eq "a push of a repository the host lacks is queued" \
    "$(signed_post gh "$TMP/missing.json" d-fail push | cut -d' ' -f1)" 202
if wait_for is_state d-ok done; then ok "the push synced: done"; else not_ok "d-ok: $(state_of d-ok)"; fi
if wait_for is_state d-fail failed; then ok "the missing one failed"; else not_ok "d-fail: $(state_of d-fail)"; fi
for i in $(seq 1 6); do
    github_push acme/good "$TIP" >"$TMP/p$i.json"
    signed_post gh "$TMP/p$i.json" "d-more-$i" push >/dev/null
done
# Refused before its events were read, and a ping, have no host delivery id: found by state.
expect_eq "the refused signature is recorded" \
    "$(api '/api/deliveries?state=rejected' | py "[(x['endpoint'], 'does not match' in x['error']) for x in d['deliveries']]")" \
    "[('gh', True)]"
expect_eq "the ping is recorded ignored" "$(api '/api/deliveries?state=ignored' | py "len(d['deliveries'])")" 1
expect_eq "the duplicate is recorded" \
    "$(api '/api/deliveries?state=duplicate' | py "[x['delivery_id'] for x in d['deliveries']]")" "['d-ok']"
fail_rec=$(api '/api/deliveries?state=failed' | py "d['deliveries'][0]")
expect_contains "a failed one keeps its last error" "$fail_rec" "'error': '"
expect_eq "and its attempts" "$(api '/api/deliveries?state=failed' | py "d['deliveries'][0]['attempts'] >= 1")" True
expect_contains "and its refs" "$fail_rec" "'refs': ['refs/heads/main']"

# --- 2. filters and pages -------------------------------------------------------------------
expect_eq "state=failed lists d-fail only" \
    "$(api '/api/deliveries?state=failed' | py "[x['delivery_id'] for x in d['deliveries']]")" "['d-fail']"
expect_eq "repository=acme/missing lists it only" \
    "$(api '/api/deliveries?repository=acme%2Fmissing' | py "[x['delivery_id'] for x in d['deliveries']]")" "['d-fail']"
expect_eq "endpoint=open lists nothing yet" "$(api '/api/deliveries?endpoint=open' | py "len(d['deliveries'])")" 0
total=$(api '/api/deliveries?endpoint=gh' | py "len(d['deliveries'])")
expect_eq "endpoint=gh lists all eleven" "$total" 11
expect_eq "filters combine" \
    "$(api '/api/deliveries?endpoint=gh&state=done&repository=acme/good' | py "all(x['state'] == 'done' for x in d['deliveries']) and len(d['deliveries']) > 0")" True
for q in 'state=bogus' 'limit=0' 'limit=abc' 'limit=1001' 'before=-1' 'cursor=x' 'colour=red' 'endpoint=a%20b'; do
    expect_eq "?$q is 400" "$(code "/api/deliveries?$q")" 400
done
expect_contains "a bad state says which are known" "$(api '/api/deliveries?state=bogus')" 'one of queued'
python3 - "$PORT" >"$TMP/pages.txt" <<'PY'
import json, sys, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
def get(p): return json.load(urllib.request.urlopen(base + p))
full = [x["record_id"] for x in get("/api/deliveries")["deliveries"]]
seen, url, pages = [], "/api/deliveries?limit=3&endpoint=gh", 0
while url:
    page = get(url)
    pages += 1
    seen += [x["record_id"] for x in page["deliveries"]]
    url = page["next"]
    assert (page["next_cursor"] is None) == (url is None)
print(pages, seen == full, seen == sorted(seen, reverse=True), len(set(seen)) == len(seen))
PY
expect_eq "pages of 3 walk the whole list, newest first, once each" "$(cat "$TMP/pages.txt")" "4 True True True"

# --- 3. one delivery, with its payload ------------------------------------------------------
ok_id=$(api '/api/deliveries?state=done' | py "[x['record_id'] for x in d['deliveries'] if x['delivery_id'] == 'd-ok'][0]")
one=$(api "/api/deliveries/$ok_id")
expect_eq "GET by id gives the payload as JSON" "$(echo "$one" | py "d['payload']['repository']['full_name']")" acme/good
expect_eq "with the headers it was sent with" "$(echo "$one" | py "d['payload_headers']['X-GitHub-Event']")" push
expect_eq "the signature header is kept" "$(echo "$one" | py "'X-Hub-Signature-256' in d['payload_headers']")" True
expect_eq "Authorization and X-Gitlab-Token are not" \
    "$(echo "$one" | py "sorted(k for k in d['payload_headers'] if k.lower() in ('authorization', 'x-gitlab-token'))")" "[]"
if grep -rqe auth-secret-abc -e gl-secret-xyz "$DATA/deliveries"; then not_ok "a secret header is on disk"
else ok "no secret header reached the data directory"; fi
bad_id=$(api '/api/deliveries?state=rejected' | py "d['deliveries'][0]['record_id']")
expect_eq "a refused signature's payload is not kept" \
    "$(api "/api/deliveries/$bad_id" | py "(d['payload'], d['payload_expired'])")" "(None, True)"
expect_eq "an unknown id is 404" "$(code /api/deliveries/999999)" 404
expect_eq "an id that is not a number is 400" "$(code /api/deliveries/abc)" 400

# --- 4. a restart keeps them all ------------------------------------------------------------
summary() { api "/api/deliveries?limit=1000" | py "[(x['record_id'], x['delivery_id'], x['state'], x['attempts']) for x in d['deliveries']]"; }
before=$(summary)
stop_gateway
start_gateway "$CONF" "$DATA"
expect_eq "after SIGTERM and a restart every record is there with its state" "$(summary)" "$before"
expect_eq "and the payload" "$(api "/api/deliveries/$ok_id" | py "d['payload']['repository']['full_name']")" acme/good

# --- 5. past payload_retention the record stays, its payload goes ---------------------------
stop_gateway
server_conf "payload_retention = 1;"
start_gateway "$CONF" "$DATA"
expired() { [ "$(api "/api/deliveries/$ok_id" | py "(d['payload'], d['payload_expired'])")" = "(None, True)" ]; }
if wait_for expired; then ok "past payload_retention GET by id says payload_expired"; else not_ok "$(api "/api/deliveries/$ok_id")"; fi
expect_eq "the record itself stays" "$(api "/api/deliveries/$ok_id" | py "d['state']")" done

# --- 6. kill -9 during a burst --------------------------------------------------------------
: >"$TMP/acked"
(
    for i in $(seq 1 200); do
        github_push acme/good "$(printf '%040x' "$i")" >"$TMP/b.json"
        r=$(post open "$TMP/b.json" -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: burst-$i" 2>/dev/null)
        [ "${r%% *}" = 202 ] && echo "burst-$i" >>"$TMP/acked"
    done
) &
BURST=$!
acked_some() { [ "$(wc -l <"$TMP/acked")" -ge 15 ]; }
wait_for acked_some
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null
wait "$BURST" 2>/dev/null
GW_PID=
# The crash may have cut a record; make sure the tail is torn, as a power cut would leave it.
printf '123 0badc0de {"t":1,"q":1,"p":0,"d":{"reco' >>"$DATA/deliveries/log"
start_gateway "$CONF" "$DATA"
listed=$(api "/api/deliveries?endpoint=open&limit=1000" | py "' '.join(x['delivery_id'] for x in d['deliveries'])")
missing=
while read -r id; do
    case " $listed " in *" $id "*) ;; *) missing="$missing $id" ;; esac
done <"$TMP/acked"
expect_eq "every acknowledged delivery of the burst ($(wc -l <"$TMP/acked")) is listed after kill -9" "$missing" ""
expect_contains "the torn tail was cut with a log line" "$(cat "$TMP/gateway.log")" "torn last record cut off"
expect_eq "and the records before the burst are still there" "$(state_of d-fail)" failed
stop_gateway
finish
