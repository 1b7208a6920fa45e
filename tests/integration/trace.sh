#!/usr/bin/env bash
# Every answer is traceable (issue 13): each request to a webhook route, whatever its status,
# is in /api/deliveries with the host's delivery id, its source address, status and reason,
# and has one log line; behind a reverse proxy listed in server.trusted_proxies the client
# named by X-Forwarded-For is what allow_from checks and what is recorded, and nobody else's
# X-Forwarded-For counts. 127.0.0.2 (curl --interface) is a second client on loopback. A flood
# of refusals fills its share of a small delivery log and leaves the pushes' records.
. "$(dirname "$0")/lib.sh"
need curl python3

install_gateway
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<'CONF'
server = { workers = 1; max_body = 4096; trusted_proxies = [ "127.0.0.1" ]; };
CONF
# The fetch URL is a closed loopback port: a queued push fails to sync, which is not tested.
cat >"$TMP/conf/10-endpoints.conf" <<'CONF'
endpoints = (
  { name = "gh"; provider = "github"; secret = "s3cret";
    clone_url = "http://127.0.0.1:9/{repository}.git"; },
  { name = "walled"; provider = "github"; secret = "s3cret";
    allow_from = [ "203.0.113.0/24" ]; },
  { name = "gl"; provider = "gitlab"; url = "https://gitlab.example.com"; secret = "tok"; }
);
CONF
github_push o/r 2222222222222222222222222222222222222222 >"$TMP/push.json"
sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push.json" | sed -n 's/^X-Hub-Signature-256: //p')
head -c 5000 /dev/zero | tr '\0' 'x' >"$TMP/big.json"

# code_of ARGS...: the status of one request, the body in $TMP/body.
code_of() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
hook_url() { echo "http://127.0.0.1:$PORT/api/webhooks/$1"; }
# check_records < "ID STATUS CLIENT VIA ENDPOINT" lines: each delivery id has one record in
# /api/deliveries with them (VIA - for none), a received time and, for a refusal, a reason.
check_records() {
    curl -s "http://127.0.0.1:$PORT/api/deliveries?limit=1000" >"$TMP/deliveries.json"
    python3 -c '
import json, re, sys
ds = json.load(open(sys.argv[1]))["deliveries"]
for line in sys.stdin:
    did, status, client, via, ep = line.split()
    hits = [d for d in ds if d.get("delivery_id") == did]
    if len(hits) != 1:
        print("not ok - %s: %d records" % (did, len(hits)))
        continue
    d, want = hits[0], {"status": int(status), "client": client,
                        "via": None if via == "-" else via, "endpoint": ep}
    bad = {k: d.get(k) for k, v in want.items() if d.get(k) != v}
    if not re.match(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$", d.get("received_at") or ""):
        bad["received_at"] = d.get("received_at")
    if status != "202" and not d.get("error"):
        bad["error"] = d.get("error")
    print("ok - %s: recorded with %s" % (did, want) if not bad else
          "not ok - %s: %r in %r" % (did, bad, d))' "$TMP/deliveries.json" >"$TMP/checked"
    PASS=$((PASS + $(grep -c '^ok' "$TMP/checked")))
    FAIL=$((FAIL + $(grep -c '^not ok' "$TMP/checked")))
    cat "$TMP/checked"
}
# field JSON KEY: one field of a JSON object.
field() { python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print("null" if v is None else v)' "$1" "$2" 2>/dev/null; }

start_gateway "$TMP/conf" "$TMP/data"

# --- every status, each with the id its host's header carries ---
c=$(code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-Hub-Signature-256: $sig" -H 'X-GitHub-Delivery: d-202' --data-binary "@$TMP/push.json")
expect_eq "signed push is 202" "$c" 202
c=$(code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H 'X-Hub-Signature-256: sha256=00' -H 'X-GitHub-Delivery: d-401' --data-binary "@$TMP/push.json")
expect_eq "bad signature is 401" "$c" 401
c=$(code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H 'X-GitHub-Delivery: d-413' --data-binary "@$TMP/big.json")
expect_eq "a body past max_body (Content-Length) is 413" "$c" 413
c=$(code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    -H 'X-GitHub-Delivery: d-413-chunked' --data-binary "@$TMP/big.json")
expect_eq "a body past max_body (chunked) is 413" "$c" 413
c=$(code_of -X POST "$(hook_url gl)" -H 'Content-Type: text/plain' -H 'X-Gitlab-Event: Push Hook' \
    -H 'X-Gitlab-Event-UUID: g-415' --data-binary "@$TMP/push.json")
expect_eq "a text/plain body is 415" "$c" 415
c=$(code_of -X POST "$(hook_url nosuch)" -H 'Content-Type: application/json' \
    -H 'X-Request-Id: r-404' --data-binary "@$TMP/push.json")
expect_eq "an unknown endpoint is 404" "$c" 404
c=$(code_of -X GET "$(hook_url gh)" -H 'X-GitHub-Delivery: d-405')
expect_eq "GET on a webhook route is 405" "$c" 405

# --- allow_from behind a proxy ---
# Straight from a client that is no proxy: its X-Forwarded-For is its own claim, not read.
c=$(code_of --interface 127.0.0.2 -X POST "$(hook_url walled)" -H 'Content-Type: application/json' \
    -H 'X-Forwarded-For: 203.0.113.7' -H 'X-GitHub-Delivery: d-403-direct' --data-binary "@$TMP/push.json")
expect_eq "a spoofed X-Forwarded-For from an untrusted client is 403" "$c" 403
expect_contains "the 403 names the address it saw and the fix" "$(cat "$TMP/body")" \
    'the source address 127.0.0.2 is not in allow_from of endpoint \"walled\"; behind a proxy set server.trusted_proxies'
# Through the trusted proxy (127.0.0.1): the client it names passes allow_from (then the
# signature is checked: 401 without one).
c=$(code_of -X POST "$(hook_url walled)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H 'X-Forwarded-For: 203.0.113.7' -H 'X-GitHub-Delivery: d-401-proxied' --data-binary "@$TMP/push.json")
expect_eq "the client a trusted proxy names passes allow_from" "$c" 401
# What the client wrote to the left of what the proxy saw is not read.
c=$(code_of -X POST "$(hook_url walled)" -H 'Content-Type: application/json' \
    -H 'X-Forwarded-For: 203.0.113.7, 198.51.100.9' -H 'X-GitHub-Delivery: d-403-proxied' \
    --data-binary "@$TMP/push.json")
expect_eq "the right-most untrusted address is the client" "$c" 403
expect_contains "the 403 names the client and the proxy" "$(cat "$TMP/body")" \
    'the client address 198.51.100.9 (forwarded by 127.0.0.1) is not in allow_from'
check_records <<'EOF'
d-202 202 127.0.0.1 - gh
d-401 401 127.0.0.1 - gh
d-413 413 127.0.0.1 - gh
d-413-chunked 413 127.0.0.1 - gh
g-415 415 127.0.0.1 - gl
r-404 404 127.0.0.1 - nosuch
d-405 405 127.0.0.1 - gh
d-403-direct 403 127.0.0.2 - walled
d-401-proxied 401 203.0.113.7 127.0.0.1 walled
d-403-proxied 403 198.51.100.9 127.0.0.1 walled
EOF

# --- one log line per delivery, with time, id, status, reason, client, proxy, record ---
wait_for grep -q 'delivery="d-403-proxied"' "$TMP/gateway.log"
python3 - "$TMP/gateway.log" >"$TMP/lines" <<'PY'
import json, re, sys
head = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z cargoman\[info\] delivery: (.*)$')
field = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ "]+)(?: |$)')
for line in open(sys.argv[1], encoding="utf-8"):
    m = head.match(line.rstrip("\n"))
    if m:
        print(json.dumps({k: None if v == "-" else v.strip('"') for k, v in field.findall(m.group(1))}))
PY
line_of() { grep "\"delivery\": \"$1\"" "$TMP/lines"; }
expect_eq "ten delivery lines, one per request" "$(wc -l <"$TMP/lines")" 10
l=$(line_of d-202)
expect_eq "the accepted push is logged too" "$(field "$l" status)" 202
rec=$(python3 -c 'import json, sys; print([d["record_id"] for d in json.load(open(sys.argv[1]))["deliveries"] if d["delivery_id"] == "d-202"][0])' "$TMP/deliveries.json")
expect_eq "with its record" "$(field "$l" record)" "$rec"
l=$(line_of d-413)
expect_eq "a 413 line has the status" "$(field "$l" status)" 413
expect_contains "and the reason" "$(field "$l" reason)" "server.max_body"
l=$(line_of d-401-proxied)
expect_eq "a proxied line names the client" "$(field "$l" client)" 203.0.113.7
expect_eq "and the proxy" "$(field "$l" via)" 127.0.0.1
expect_eq "and the endpoint" "$(field "$l" endpoint)" walled
stop_gateway

# --- under journald (JOURNAL_STREAM) the journal stamps the time; JSON has every field ---
mv "$TMP/gateway.log" "$TMP/text.log"
JOURNAL_STREAM=8:12345 start_gateway "$TMP/conf" "$TMP/data"
c=$(code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H 'X-Hub-Signature-256: sha256=00' -H 'X-GitHub-Delivery: d-journal' --data-binary "@$TMP/push.json")
wait_for grep -q 'd-journal' "$TMP/gateway.log"
stop_gateway
expect_eq "under journald a line starts with cargoman[" \
    "$(grep -c '^cargoman\[info\] delivery: delivery="d-journal"' "$TMP/gateway.log")" 1
mv "$TMP/gateway.log" "$TMP/journal.log"
CM_SERVE_ARGS=--log-format=json start_gateway "$TMP/conf" "$TMP/data"
c=$(code_of -X POST "$(hook_url walled)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H 'X-Forwarded-For: 203.0.113.8' -H 'X-GitHub-Delivery: d-json' --data-binary "@$TMP/push.json")
expect_eq "json: the proxied request is 401" "$c" 401
wait_for grep -q 'd-json' "$TMP/gateway.log"
l=$(grep '"delivery":"d-json"' "$TMP/gateway.log")
for kv in time:2 status:401 client:203.0.113.8 via:127.0.0.1 endpoint:walled; do
    case "$(field "$l" "${kv%%:*}")" in
    "${kv#*:}"*) ok "json line: ${kv%%:*}" ;;
    *) not_ok "json line: ${kv%%:*} is not ${kv#*:} in $l" ;;
    esac
done
case "$(field "$l" reason)" in null | "") not_ok "json line: no reason in $l" ;; *) ok "json line: reason" ;; esac
case "$(field "$l" record)" in [1-9]*) ok "json line: record" ;; *) not_ok "json line: no record in $l" ;; esac
stop_gateway

# --- a flood of 401s keeps to a quarter of the log: the pushes' records stay ---
mv "$TMP/gateway.log" "$TMP/json.log"
rm -rf "$TMP/data"
cat >"$TMP/conf/00-server.conf" <<'CONF'
server = { workers = 1; max_body = 4096; trusted_proxies = [ "127.0.0.1" ];
           delivery_log_max_entries = 8; };
CONF
start_gateway "$TMP/conf" "$TMP/data"
for i in 1 2 3; do
    sed "s/2222222222222222222222222222222222222222/$(printf '%040d' "$i")/" "$TMP/push.json" >"$TMP/p$i.json"
    s=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/p$i.json" | sed -n 's/^X-Hub-Signature-256: //p')
    code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H "X-Hub-Signature-256: $s" -H "X-GitHub-Delivery: push-$i" --data-binary "@$TMP/p$i.json" >/dev/null
done
for i in $(seq 1 20); do
    code_of -X POST "$(hook_url gh)" -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H 'X-Hub-Signature-256: sha256=00' -H "X-GitHub-Delivery: flood-$i" --data-binary "@$TMP/push.json" >/dev/null
done
kept=$(curl -s "http://127.0.0.1:$PORT/api/deliveries?limit=100" | python3 -c '
import json, sys
ds = json.load(sys.stdin)["deliveries"]
print(sum(d["delivery_id"].startswith("push-") for d in ds), sum(d["state"] == "rejected" for d in ds))')
expect_eq "after 20 refusals: every push's record, and 2 refusals (a quarter of 8)" "$kept" "3 2"
expect_eq "each refusal still has its log line" "$(grep -c 'delivery: delivery="flood-' "$TMP/gateway.log")" 20
expect_contains "and the log says once that they are no longer recorded" \
    "$(grep -c 'fill their quarter of the delivery log' "$TMP/gateway.log")" 1
stop_gateway
finish
