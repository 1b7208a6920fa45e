#!/usr/bin/env bash
# SIGTERM keeps the README's promise: a signed delivery still uploading when the daemon is
# told to stop gets its 202, is in the spool at the next start, and the daemon exits 0; the
# listen socket is closed at once (new clients are refused, not left in a backlog); a client
# that never finishes its request is cut at server.stop_timeout and the daemon still exits 0.
. "$(dirname "$0")/../lib.sh"
need curl python3

install_gateway
DEAD_PORT=$(free_port) # nothing listens there: the sync never finishes, the entry stays queued
SECRET=s3cret

# upload.py PORT BODY HEADERS OUT STARTED CHUNKS: POST BODY to /api/webhooks/gh with the
# header lines of HEADERS, the body in CHUNKS pieces 0.1 s apart (CHUNKS 0: half the body,
# then nothing more). STARTED is created once the first piece is sent; OUT gets the status
# code of the answer, or "closed" when the connection ends without one, and on a second line
# "close" when the answer said Connection: close.
cat >"$TMP/upload.py" <<'PY'
import socket, sys, time
port, body_f, hdr_f, out, started, chunks = sys.argv[1:7]
body = open(body_f, "rb").read()
extra = "".join(l.rstrip("\n") + "\r\n" for l in open(hdr_f) if l.strip())
head = ("POST /api/webhooks/gh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n%s\r\n" % (len(body), extra)).encode()
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(head)
n = int(chunks)
pieces = [body[i * len(body) // n:(i + 1) * len(body) // n] for i in range(n)] if n else [body[:len(body) // 2]]
for i, p in enumerate(pieces):
    s.sendall(p)
    if i == 0:
        open(started, "w").close()
    if n:
        time.sleep(0.1)
answer = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        answer += b
except OSError:
    pass
code = answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/") else "closed"
close = b"\r\nconnection: close\r\n" in answer.split(b"\r\n\r\n")[0].lower() + b"\r\n"
open(out, "w").write("%s\n%s\n" % (code, "close" if close else "keep-alive"))
PY

# A signed GitHub push of main, padded with commits to a few hundred kB, so its upload
# spans the stop.
python3 - >"$TMP/push.json" <<'PY'
import json
commits = [{"id": "%040x" % i, "message": "commit %d " % i + "x" * 200} for i in range(1000)]
print(json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40,
  "created": False, "deleted": False, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "commits": commits, "repository": {"id": 1, "full_name": "acme/slow",
  "clone_url": "https://github.com/acme/slow.git", "ssh_url": "git@github.com:acme/slow.git",
  "html_url": "https://github.com/acme/slow"}}))
PY
"$INST_BIN" sign -P "$INST_PLUGINS" -p github -s "$SECRET" "$TMP/push.json" >"$TMP/headers"
printf 'X-GitHub-Event: push\nX-GitHub-Delivery: slow-upload-1\n' >>"$TMP/headers"

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; max_body = 4194304; stop_timeout = 10; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoint = { name = "gh"; provider = "github"; secret = "$SECRET";
             clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; };
CONF

# exited_within SECONDS: whether the daemon is gone by then; sets RC to its exit status.
exited_within() {
    for _ in $(seq 1 $(($1 * 10))); do
        if ! kill -0 "$GW_PID" 2>/dev/null; then
            RC=0
            wait "$GW_PID" || RC=$?
            GW_PID=
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# --- an upload in flight at SIGTERM gets its 202 ---------------------------------------
start_gateway "$TMP/conf" "$TMP/data"
python3 "$TMP/upload.py" "$PORT" "$TMP/push.json" "$TMP/headers" "$TMP/slow.out" \
    "$TMP/slow.started" 20 &
echo $! >"$TMP/slow.pid"
wait_for test -e "$TMP/slow.started" || not_ok "the slow upload started"
kill -TERM "$GW_PID"
# Stopped accepting: the port refuses (curl exit 7), it does not hang in a leaked backlog.
refused=
for _ in $(seq 1 50); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz"
    [ $? = 7 ] && { refused=yes; break; }
    sleep 0.1
done
expect_eq "after SIGTERM new connections are refused while the upload goes on" "$refused" yes
wait "$(cat "$TMP/slow.pid")"
expect_eq "the upload in flight at SIGTERM gets its 202" "$(sed -n 1p "$TMP/slow.out" 2>/dev/null)" 202
expect_eq "and Connection: close, so no next request is sent on it" "$(sed -n 2p "$TMP/slow.out" 2>/dev/null)" close
if exited_within 30; then
    expect_eq "the daemon then exits 0" "$RC" 0
else
    not_ok "the daemon exits after the upload"
fi
expect_contains "it said it was finishing requests" "$(cat "$TMP/gateway.log")" "stopping: finishing requests in flight"

if grep -q '"delivery_id":"slow-upload-1"' "$TMP/data/spool/journal"; then
    ok "the delivery is in the spool's journal"
else
    not_ok "the delivery is in the spool's journal"
fi
PORT=
start_gateway "$TMP/conf" "$TMP/data"
expect_contains "the next start finds it queued" "$(grep 'listening on' "$TMP/gateway.log" | tail -n1)" "1 queued in the spool)"
depth=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^cargoman_spool_depth //p')
expect_eq "and it stays queued (its host is down)" "$depth" 1
stop_gateway

# --- a client that never finishes is cut at stop_timeout ---------------------------------
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; max_body = 4194304; stop_timeout = 2; };
CONF
PORT=
start_gateway "$TMP/conf" "$TMP/data"
sed -i 's/slow-upload-1/never-done-1/' "$TMP/headers"
python3 "$TMP/upload.py" "$PORT" "$TMP/push.json" "$TMP/headers" "$TMP/stuck.out" \
    "$TMP/stuck.started" 0 &
echo $! >"$TMP/stuck.pid"
wait_for test -e "$TMP/stuck.started" || not_ok "the stuck upload started"
kill -TERM "$GW_PID"
# Generous: stop_timeout is 2 s, request_timeout (30 s) would cut it too but later.
if exited_within 20; then
    expect_eq "with a client that never finishes, the daemon exits 0" "$RC" 0
else
    not_ok "the daemon exits at stop_timeout although a client never finishes"
fi
wait "$(cat "$TMP/stuck.pid")"
expect_eq "that client's connection is closed without an answer" "$(sed -n 1p "$TMP/stuck.out")" closed
expect_contains "and the cut is logged" "$(cat "$TMP/gateway.log")" "cut 1 connection(s) still sending or receiving after server.stop_timeout (2 s)"
finish
