#!/usr/bin/env bash
# Every status code of the gateway's HTTP surface, driven with curl against the installed
# daemon on a loopback port.
. "$(dirname "$0")/lib.sh"
need curl python3

install_gateway
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { max_body = 65536; workers = 1; connection_timeout = 2; max_connections = 8; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<'CONF'
endpoints = (
  { name = "gh"; provider = "github"; url = "https://github.com"; secret = "s3cret"; },
  { name = "dc"; provider = "bitbucket-datacenter"; url = "https://bitbucket.example.com";
    secret = "s3cret"; },
  { name = "cloud"; provider = "bitbucket-cloud"; secret = "s3cret"; },
  { name = "gl"; provider = "gitlab"; url = "https://gitlab.com"; secret = "tok"; },
  { name = "walled"; provider = "github"; url = "https://github.com"; allow_from = [ "10.0.0.0/8" ]; }
);
CONF
start_gateway "$TMP/conf" "$TMP/data"

cat >"$TMP/push.json" <<'JSON'
{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","created":false,"deleted":false,"forced":false,"compare":"https://github.com/o/r/compare/x","pusher":{"name":"jd"},"sender":{"login":"jd"},"repository":{"id":1,"full_name":"o/r","clone_url":"https://github.com/o/r.git","ssh_url":"git@github.com:o/r.git","html_url":"https://github.com/o/r"}}
JSON
sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push.json" | sed -n 's/^X-Hub-Signature-256: //p')

r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $sig" -H 'X-GitHub-Delivery: d-1')
expect_eq "signed push is queued" "${r%% *}" 202
expect_contains "202 body names the refs" "$r" '"refs/heads/main"'

r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $sig" -H 'X-GitHub-Delivery: d-1')
expect_eq "redelivery is a duplicate" "$r" '200 {"status":"duplicate"}'

printf '{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"Repository"}}' >"$TMP/ping.json"
psig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/ping.json" | sed -n 's/^X-Hub-Signature-256: //p')
r=$(post gh "$TMP/ping.json" -H 'X-GitHub-Event: ping' -H "X-Hub-Signature-256: $psig")
expect_eq "ping is 200" "${r%% *}" 200

r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push' -H 'X-Hub-Signature-256: sha256=00')
expect_eq "bad signature is 401" "${r%% *}" 401
r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push')
expect_eq "missing signature is 401" "${r%% *}" 401

printf 'not json' >"$TMP/bad.json"
bsig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/bad.json" | sed -n 's/^X-Hub-Signature-256: //p')
r=$(post gh "$TMP/bad.json" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $bsig")
expect_eq "malformed body is 400" "${r%% *}" 400

# The project's own Data Center body (no ../shared needed: this check runs in a fresh clone).
f="$CM_SRCDIR/tests/fixtures/bitbucket-datacenter/own-branch-update.json"
s=$("$INST_BIN" sign -P "$INST_PLUGINS" -p bitbucket-cloud -s s3cret "$f" | sed -n 's/^X-Hub-Signature: //p')
r=$(post cloud "$f" -H 'X-Event-Key: repo:refs_changed' -H 'X-Request-Id: r1' -H "X-Hub-Signature: $s")
expect_eq "Data Center payload on a Cloud endpoint is 400" "${r%% *}" 400
expect_contains "and names the right provider" "$r" "bitbucket-datacenter"

# GitHub's form-encoded bodies: the signature covers the raw form bytes.
# Another push (the same push again would be a duplicate of the one waiting).
sed 's/2222222222222222222222222222222222222222/3333333333333333333333333333333333333333/' \
    "$TMP/push.json" >"$TMP/push-form.json"
python3 -c 'import sys, urllib.parse; sys.stdout.write("payload=" + urllib.parse.quote_plus(open(sys.argv[1]).read()))' \
    "$TMP/push-form.json" >"$TMP/push.form"
fsig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push.form" | sed -n 's/^X-Hub-Signature-256: //p')
r=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $fsig" -H 'X-GitHub-Delivery: form-1' \
    --data-binary "@$TMP/push.form" "http://127.0.0.1:$PORT/api/webhooks/gh")
expect_eq "form-encoded push is queued" "$r" 202
printf 'payload=%%ZZ' >"$TMP/bad.form"
bfsig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/bad.form" | sed -n 's/^X-Hub-Signature-256: //p')
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $bfsig" \
    --data-binary "@$TMP/bad.form" "http://127.0.0.1:$PORT/api/webhooks/gh")
expect_eq "a broken %-escape is 400" "${r##* }" 400
expect_contains "and says so" "$r" "%-escape"

r=$(post nosuch "$TMP/push.json")
expect_eq "unknown endpoint is 404" "${r%% *}" 404
r=$(post walled "$TMP/push.json" -H 'X-GitHub-Event: push')
expect_eq "source outside allow_from is 403" "${r%% *}" 403
r=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/webhooks/gh")
expect_eq "GET on a webhook is 405" "$r" 405
r=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' -H 'X-GitHub-Event: push' \
    --data-binary "@$TMP/push.json" "http://127.0.0.1:$PORT/api/webhooks/gh")
expect_eq "text/plain is 415" "$r" 415
head -c 70000 /dev/zero | tr '\0' 'a' >"$TMP/big.json"
r=$(post gh "$TMP/big.json" -H 'X-GitHub-Event: push')
expect_eq "body over max_body is 413 (Content-Length)" "${r%% *}" 413
r=$(post gh "$TMP/big.json" -H 'X-GitHub-Event: push' -H 'Transfer-Encoding: chunked')
expect_eq "body over max_body is 413 (chunked)" "${r%% *}" 413

r=$(curl -s "http://127.0.0.1:$PORT/metrics")
expect_contains "metrics count requests" "$r" 'cargoman_webhook_requests_total{endpoint="gh",code="202"} 2'
r=$(curl -s "http://127.0.0.1:$PORT/api/deliveries")
expect_contains "deliveries list the push" "$r" '"d-1"'
r=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nothing")
expect_eq "unknown route is 404" "$r" 404

# A client that stops half-way through its headers is cut off after connection_timeout, and
# the connection limit holds: idle connections up to max_connections lock others out only
# until they time out.
r=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/webhooks/gh HTTP/1.1\r\nHost: x\r\n")
s.settimeout(6)
t = time.time()
try:
    closed = s.recv(1) == b""
except socket.timeout:
    closed = False
print("closed" if closed and time.time() - t < 5 else "open")
PY
)
expect_eq "a stalled request is closed after connection_timeout" "$r" closed
r=$(python3 - "$PORT" <<'PY'
import socket, subprocess, sys, time
port = sys.argv[1]
def health(t):
    return subprocess.run(["curl", "-s", "-m", str(t), "-o", "/dev/null", "-w", "%{http_code}",
                           "http://127.0.0.1:%s/healthz" % port], capture_output=True, text=True).stdout
idle = [socket.create_connection(("127.0.0.1", int(port))) for _ in range(8)]
# Poll (deadline 5 s) until the daemon holds the idle ones, then until they have timed out.
end = time.time() + 5
code = health(1)
while code != "000" and time.time() < end:
    time.sleep(0.1)
    code = health(1)
end = time.time() + 15
after = health(2)
while after != "200" and time.time() < end:
    time.sleep(0.2)
    after = health(2)
print(code, after)
PY
)
expect_eq "max_connections turns the next client away, until idle ones time out" "$r" "000 200"

stop_gateway
finish
