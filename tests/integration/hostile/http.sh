#!/usr/bin/env bash
# The HTTP front under hostile clients: slow clients holding connections (a trickle of header
# bytes from 300 sockets) must not keep a webhook or /healthz from another address waiting,
# one address may not hold more than server.max_connections_per_ip, every request must be in
# within server.request_timeout, and the operator routes answer only loopback clients or the
# holder of server.admin_token, without absolute paths.
. "$(dirname "$0")/../lib.sh"
need curl python3 git

install_gateway
mkdir -p "$TMP/conf" "$TMP/data/mirrors"
cat >"$TMP/conf/00-server.conf" <<'CONF'
server = { workers = 1; request_timeout = 3; connection_timeout = 30; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<'CONF'
endpoint = { name = "gh"; provider = "github"; url = "https://github.com"; secret = "s3cret"; };
CONF
# A mirror already on disk (listed at start), and a mirror directory that cannot be made (a
# file where the endpoint's directory would be), so a sync fails with a path in its error.
git init -q --bare "$TMP/data/mirrors/seen/acme/app.git"
: >"$TMP/data/mirrors/gh"
start_gateway "$TMP/conf" "$TMP/data"

cat >"$TMP/push.json" <<'JSON'
{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111","after":"2222222222222222222222222222222222222222","created":false,"deleted":false,"forced":false,"compare":"https://github.com/o/r/compare/x","pusher":{"name":"jd"},"sender":{"login":"jd"},"repository":{"id":1,"full_name":"o/r","clone_url":"https://github.com/o/r.git","ssh_url":"git@github.com:o/r.git","html_url":"https://github.com/o/r"}}
JSON
sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push.json" | sed -n 's/^X-Hub-Signature-256: //p')
# Other pushes of the same repository (the same push again would be a duplicate of the first).
for n in 3 4; do
    sed "s/2222222222222222222222222222222222222222/$(printf "$n%.0s" $(seq 1 40))/" \
        "$TMP/push.json" >"$TMP/push$n.json"
done
sig3=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push3.json" | sed -n 's/^X-Hub-Signature-256: //p')
sig4=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push4.json" | sed -n 's/^X-Hub-Signature-256: //p')
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# ---- 1. Operator routes without a token: loopback answers, and shows no absolute path.
expect_eq "the core serves no package repository of its own: /packages.json without a sync plugin is 404" \
    "$(code "http://127.0.0.1:$PORT/packages.json")" 404
for route in /metrics /api/deliveries /api/repositories; do
    expect_eq "without a token, GET $route from 127.0.0.1 is 200" \
        "$(code "http://127.0.0.1:$PORT$route")" 200
done
for h in 'X-Forwarded-For: 203.0.113.9' 'Forwarded: for=203.0.113.9' 'X-Real-IP: 203.0.113.9'; do
    expect_eq "without a token, /metrics through a same-host proxy ($h) is 403" \
        "$(code -H "$h" "http://127.0.0.1:$PORT/metrics")" 403
done
expect_eq "/healthz from another loopback address is 200" \
    "$(code --interface 127.0.0.3 "http://127.0.0.1:$PORT/healthz")" 200
r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $sig" -H 'X-GitHub-Delivery: p-1')
expect_eq "a signed push is queued" "${r%% *}" 202
for _ in $(seq 1 50); do
    d=$(curl -s "http://127.0.0.1:$PORT/api/deliveries")
    case $d in *"mirrors/gh/o/r.git"*) break ;; esac
    sleep 0.1
done
expect_contains "a failed sync's error names the mirror relative to the data directory" "$d" \
    ' mirrors/gh/o/r.git'
r=$(curl -s "http://127.0.0.1:$PORT/api/repositories")
expect_contains "/api/repositories lists the mirror relative to the data directory" "$r" \
    '"mirror": "mirrors/seen/acme/app.git"'
for doc in "$d" "$r"; do
    case $doc in
    *"$TMP"* | *'": "/'*) not_ok "an /api answer holds an absolute path: $doc" ;;
    *) ok "an /api answer holds no absolute path" ;;
    esac
done

# ---- 2. 300 slow clients on 127.0.0.1, each sending one header byte every 0.5 s.
r=$(python3 - "$PORT" "$TMP/push3.json" "$sig3" <<'PY'
import select, socket, subprocess, sys, time
port, body, sig = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t0 = time.time()
conns = []
for _ in range(300):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(b"POST /api/webhooks/gh HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    except OSError:
        pass
    conns.append([s, None])
def poll():
    now = time.time() - t0
    live = [c for c in conns if c[1] is None]
    if not live:
        return
    readable, _, _ = select.select([c[0] for c in live], [], [], 0)
    for c in live:
        gone = False
        if c[0] in readable:
            try:
                gone = c[0].recv(1) == b""
            except OSError:
                gone = True
        if not gone:
            try:
                c[0].send(b"a")
            except OSError:
                gone = True
        if gone:
            c[1] = now
            c[0].close()
time.sleep(0.5)
poll()
# While they trickle: a delivery and a health check from other client addresses.
hook = subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "5", "--interface", "127.0.0.2",
                       "-w", "%{http_code} %{time_total}", "-H", "Content-Type: application/json",
                       "-H", "X-GitHub-Event: push", "-H", "X-Hub-Signature-256: " + sig,
                       "-H", "X-GitHub-Delivery: slow-1", "--data-binary", "@" + body,
                       "http://127.0.0.1:%d/api/webhooks/gh" % port],
                      capture_output=True, text=True).stdout.split()
health = subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "5", "--interface", "127.0.0.3",
                         "-w", "%{http_code}", "http://127.0.0.1:%d/healthz" % port],
                        capture_output=True, text=True).stdout
open_mid = sum(1 for c in conns if c[1] is None)
while time.time() - t0 < 8 and any(c[1] is None for c in conns):
    time.sleep(0.5)
    poll()
early = sum(1 for c in conns if c[1] is not None and c[1] < 1.5)
late = [c[1] for c in conns if c[1] is not None and c[1] >= 1.5]
still = sum(1 for c in conns if c[1] is None)
print("hook=%s fast=%s health=%s open_mid=%d early=%d late=%d late_min=%.1f late_max=%.1f still=%d"
      % (hook[0], "yes" if float(hook[1]) < 1.0 else "no(%s)" % hook[1], health, open_mid, early,
         len(late), min(late or [0]), max(late or [0]), still))
PY
)
echo "# $r"
kv() { printf '%s\n' "$r" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
expect_eq "while 300 slow clients trickle, a signed delivery from 127.0.0.2 is queued" "$(kv hook)" 202
# Under valgrind the daemon runs tens of times slower: the times below measure the machine,
# not the defence, so only the outcomes are checked there.
timed() { [ "${CM_VALGRIND:-0}" = 1 ] && { echo "# skipped under valgrind: $1"; return 1; }; return 0; }
timed "answered within 1 second" && expect_eq "and answered within 1 second" "$(kv fast)" yes
expect_eq "and /healthz from 127.0.0.3 answers" "$(kv health)" 200
expect_eq "one address keeps only max_connections_per_ip (32) of them" "$(kv open_mid)" 32
timed "refused at once" && expect_eq "the other 268 are refused at once" "$(kv early)" 268
expect_eq "the 32 held are closed by the server" "$(kv late)" 32
expect_eq "no slow client is left open" "$(kv still)" 0
late_min=$(kv late_min) late_max=$(kv late_max)
if ! timed "closed at request_timeout"; then
    :
elif python3 -c "import sys; sys.exit(not (2.5 <= $late_min and $late_max <= 5.5))"; then
    ok "they are closed at request_timeout (3 s), not at connection_timeout (30 s)"
else
    not_ok "slow clients closed between ${late_min}s and ${late_max}s, want about 3s"
fi
m=$(curl -s "http://127.0.0.1:$PORT/metrics")
expect_contains "/metrics counts the deadline drops" "$m" \
    'cargoman_connections_dropped_total{reason="deadline"} 32'
expect_contains "/metrics counts the per-address refusals" "$m" \
    'cargoman_connections_dropped_total{reason="per_ip"} 268'
expect_eq "one log line for the deadline drops (rate-limited)" \
    "$(grep -c 'server.request_timeout' "$TMP/gateway.log")" 1
expect_eq "one log line for the per-address refusals (rate-limited)" \
    "$(grep -c 'server.max_connections_per_ip' "$TMP/gateway.log")" 1
stop_gateway

# ---- 3. With an admin token (from the environment), a small per-address limit, no deadline
# to race against.
cat >"$TMP/conf/00-server.conf" <<'CONF'
server = { workers = 1; max_connections_per_ip = 4; admin_token = "${CM_T_ADMIN_TOKEN:-}"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:1"; } );
CONF
export CM_T_ADMIN_TOKEN=0123456789abcdef-test-token
PORT=$(free_port)
start_gateway "$TMP/conf" "$TMP/data"
for route in /metrics /api/deliveries /api/repositories /api/nothing; do
    expect_eq "with a token, GET $route without it is 401" "$(code "http://127.0.0.1:$PORT$route")" 401
    expect_eq "with a token, GET $route with a wrong one is 401" \
        "$(code -H 'Authorization: Bearer 0123456789abcdef-test-tokeX' "http://127.0.0.1:$PORT$route")" 401
done
for route in /metrics /api/deliveries /api/repositories; do
    expect_eq "with a token, GET $route with it is 200" \
        "$(code -H "Authorization: Bearer $CM_T_ADMIN_TOKEN" "http://127.0.0.1:$PORT$route")" 200
done
expect_eq "an unknown /api route is 404 only with the token" \
    "$(code -H "Authorization: Bearer $CM_T_ADMIN_TOKEN" "http://127.0.0.1:$PORT/api/nothing")" 404
expect_eq "a POST to an operator route without the token is 401, before its method is judged" \
    "$(code -X POST --data x "http://127.0.0.1:$PORT/api/deliveries")" 401
h=$(curl -s -D - -o "$TMP/401.json" "http://127.0.0.1:$PORT/metrics" | tr -d '\r')
expect_contains "a 401 asks for a Bearer token" "$h" 'WWW-Authenticate: Bearer realm="cargoman"'
expect_contains "and says what to send" "$(cat "$TMP/401.json")" 'send Authorization: Bearer <server.admin_token>'
h=$(curl -s -D - -o /dev/null -H 'Authorization: Bearer nope' "http://127.0.0.1:$PORT/metrics" | tr -d '\r')
expect_contains "a wrong token is an invalid_token" "$h" 'error="invalid_token"'
expect_eq "the scheme is case-insensitive" \
    "$(code -H "Authorization: bearer $CM_T_ADMIN_TOKEN" "http://127.0.0.1:$PORT/metrics")" 200
expect_eq "Basic credentials are not the token" \
    "$(code -u "x:$CM_T_ADMIN_TOKEN" "http://127.0.0.1:$PORT/metrics")" 401
expect_eq "/healthz needs no token" "$(code "http://127.0.0.1:$PORT/healthz")" 200
expect_eq "the Composer repository keeps its own access" \
    "$(code "http://127.0.0.1:$PORT/packages.json")" 200
r=$(post gh "$TMP/push4.json" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $sig4" -H 'X-GitHub-Delivery: p-2')
expect_eq "webhooks need no admin token" "${r%% *}" 202

# The per-address limit, directly: 4 idle connections from 127.0.0.1 lock out a fifth from
# there, not one from 127.0.0.2, and a slot comes back when one of them closes.
r=$(python3 - "$PORT" <<'PY'
import socket, subprocess, sys, time
port = int(sys.argv[1])
def health(src):
    return subprocess.run(["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                           "--interface", src, "http://127.0.0.1:%d/healthz" % port],
                          capture_output=True, text=True).stdout
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
fifth, end = health("127.0.0.1"), time.time() + 5
while fifth != "000" and time.time() < end:  # until the daemon has accepted the four
    time.sleep(0.1)
    fifth = health("127.0.0.1")
other = health("127.0.0.2")
held.pop().close()
again = "000"
for _ in range(20):
    time.sleep(0.1)
    again = health("127.0.0.1")
    if again == "200":
        break
print(fifth, other, again)
PY
)
expect_eq "a fifth connection from 127.0.0.1 is refused, 127.0.0.2 is served, and the freed slot is usable" \
    "$r" "000 200 200"
# At least 1: a retry above may have come before the freed slot was seen.
n=$(curl -s -H "Authorization: Bearer $CM_T_ADMIN_TOKEN" "http://127.0.0.1:$PORT/metrics" |
    sed -n 's/^cargoman_connections_dropped_total{reason="per_ip"} //p')
if [ "${n:-0}" -ge 1 ]; then ok "the refusal is counted"; else not_ok "per_ip refusals counted: '$n'"; fi
stop_gateway

# ---- 4. The same limit for IPv6 clients, on a gateway listening on [::1] (counted per /64).
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    cat >"$TMP/conf/00-server.conf" <<'CONF'
server = { workers = 1; max_connections_per_ip = 2; };
CONF
    PORT=$(free_port)
    : >"$TMP/gateway.log"
    "$INST_BIN" serve -c "$TMP/conf" -d "$TMP/data" -l "[::1]:$PORT" -P "$INST_PLUGINS" \
        >>"$TMP/gateway.log" 2>&1 &
    GW_PID=$!
    wait_for curl -sf "http://[::1]:$PORT/healthz" || { cat "$TMP/gateway.log"; exit 1; }
    r=$(python3 - "$PORT" <<'PY'
import socket, subprocess, sys, time
port = int(sys.argv[1])
def health():
    return subprocess.run(["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                           "http://[::1]:%d/healthz" % port], capture_output=True, text=True).stdout
held = [socket.create_connection(("::1", port)) for _ in range(2)]
third, end = health(), time.time() + 5
while third != "000" and time.time() < end:
    time.sleep(0.1)
    third = health()
held.pop().close()
again = "000"
for _ in range(20):
    time.sleep(0.1)
    again = health()
    if again == "200":
        break
print(third, again)
PY
)
    expect_eq "a third connection from ::1 is refused, and the freed slot is usable" "$r" "000 200"
    stop_gateway
    expect_contains "the log names the IPv6 address refused" "$(cat "$TMP/gateway.log")" \
        "connection(s) from addresses that already had 2 open, the last from ::1 (server.max_connections_per_ip"
else
    echo "# skipped: no IPv6 loopback here"
fi
finish
