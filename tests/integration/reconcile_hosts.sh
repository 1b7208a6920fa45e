#!/usr/bin/env bash
# Reconciliation and its git hosts: a host that is down is retried with a growing wait, not
# once per mirror per interval (server.reconcile_spacing_ms, then doubling); a host answering
# HTTP 429 is left alone; a host that is up is reconciled meanwhile all the same.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon
DOWN=$(free_port) # nothing listens there
W="$TMP/work/u"
new_repo_at acme/u "$W"
echo 1 >"$W/v" && git -C "$W" add -A && git -C "$W" commit -qm one && git -C "$W" push -q origin main

# Mirrors as a sync leaves them: three on the host that is down, one on the 429 host, one on
# the git daemon.
for r in r1 r2 r3; do git clone -q --mirror "$TMP/git/acme/u.git" "$TMP/data/mirrors/down/acme/$r.git"; done
git clone -q --mirror "$TMP/git/acme/u.git" "$TMP/data/mirrors/busy/acme/b.git"
git clone -q --mirror "$TMP/git/acme/u.git" "$TMP/data/mirrors/up/acme/u.git"
echo 2 >"$W/v" && git -C "$W" commit -qam two && git -C "$W" push -q origin main

# An HTTP git host that answers every request 429 and notes when it came.
BUSY=$(free_port)
python3 - "$BUSY" "$TMP/busy.log" <<'PY' &
import http.server, sys, time
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write("%f %s\n" % (time.time(), self.path))
        self.send_response(429); self.send_header("Retry-After", "120")
        self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
BUSY_PID=$!
trap 'kill $BUSY_PID 2>/dev/null; cleanup' EXIT
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$BUSY/" || { echo "429 server did not start"; exit 1; }
: >"$TMP/busy.log"

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00.conf" <<CONF
server = { workers = 1; reconcile_interval = 1; reconcile_per_host = 2; reconcile_spacing_ms = 1000; };
endpoints = (
  { name = "down"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$DOWN/{repository}.git"; },
  { name = "busy"; provider = "github"; url = "https://github.com";
    clone_url = "http://127.0.0.1:$BUSY/{repository}.git"; },
  { name = "up"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; } );
CONF
start_gateway "$TMP/conf" "$TMP/data"
metric() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
metric_ge() { [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }
up_synced() { [ "$(git -C "$TMP/data/mirrors/up/acme/u.git" rev-parse main)" = "$(git -C "$W" rev-parse main)" ]; }
down_waits() { grep -c "git://127.0.0.1:$DOWN: unreachable; next ls-remote to it in" "$TMP/gateway.log"; }
down_ge() { [ "$(down_waits)" -ge "$1" ]; }

if wait_for up_synced; then ok "the host that is up is reconciled"; else not_ok "up not reconciled"; fi
if wait_for grep -q "rate limited (HTTP 429); next ls-remote to it in 60 s" "$TMP/gateway.log"; then
    ok "HTTP 429 backs the host off for 60 s"; else not_ok "429 not recognised"; fi
# Three mirrors, interval 1 s: without the per-host backoff four failures take about a second.
t0=$(date +%s)
wait_for down_ge 1 || not_ok "down host never tried"
t1=$(date +%s)
if WAIT_SECONDS=40 wait_for down_ge 4; then
    el=$(($(date +%s) - t1))
    if [ "$el" -ge 5 ]; then ok "four tries of the down host took ${el} s (waits 1, 2, 4 s)"; else not_ok "down host retried too fast: four tries in ${el} s"; fi
else
    not_ok "down host not retried"
fi
waits=$(grep -o "git://127.0.0.1:$DOWN: unreachable; next ls-remote to it in [0-9]* s" "$TMP/gateway.log" | awk '{print $(NF-1)}' | head -4 | tr '\n' ' ')
expect_eq "the waits double" "$waits" "1 2 4 8 "
expect_eq "the 429 host saw one request while others were checked" "$(wc -l <"$TMP/busy.log")" 1
m=$(curl -sf "http://127.0.0.1:$PORT/metrics")
expect_contains "rate limited checks are counted" "$m" 'cargoman_reconcile_checks_total{result="rate_limited"} 1'
expect_contains "failures are counted" "$m" "cargoman_reconcile_failures_total"
stop_gateway
finish
