#!/usr/bin/env bash
# Coalescing: 200 signed GitHub pushes for one repository whose 200 commits were all on the
# git host before the first webhook. Prints the fetches each side made and the seconds from
# the last answered webhook until the mirror is current and all work is done, for the gateway
# and for the peer: a naive hook runner doing one `git fetch` per webhook (adnanh/webhook when
# installed, else a stand-in of a few lines of Python doing what it does: answer, then run the
# hook), alternating on the same machine with the same payloads.
#   bench/coalesce.sh BUILD_DIR [PUSHES]      (needs git, curl, python3)
set -euo pipefail
build=$(cd "${1:?usage: bench/coalesce.sh BUILD_DIR [PUSHES]}" && pwd)
n=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)
send=$here/../tests/integration/send_pushes.py
for t in git curl python3; do command -v "$t" >/dev/null || { echo "needs $t"; exit 77; }; done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cargoman-bench.XXXXXX")
gw_pid= ; peer_pid=
trap '[ -n "$gw_pid" ] && kill $gw_pid; [ -n "$peer_pid" ] && kill $peer_pid; kill $(cat "$tmp/gitd.pid" 2>/dev/null) 2>/dev/null; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1"; exit 1; }

# The host: a git daemon with acme/pkg at c0; c1..cN are pushed once both mirrors hold c0.
gp=$(port)
mkdir -p "$tmp/git/acme"
git init -q --bare "$tmp/git/acme/pkg.git"
git -C "$tmp/git/acme/pkg.git" symbolic-ref HEAD refs/heads/main
git daemon --export-all --enable=receive-pack --base-path="$tmp/git" --listen=127.0.0.1 \
    --port="$gp" --reuseaddr --pid-file="$tmp/gitd.pid" --detach "$tmp/git"
wait_up_git() { for _ in $(seq 1 50); do git ls-remote "git://127.0.0.1:$gp/acme/pkg.git" >/dev/null 2>&1 && return 0; sleep 0.1; done; }
w=$tmp/work
git init -q -b main "$w"
git -C "$w" -c user.email=b@b -c user.name=b commit -q --allow-empty -m c0
sleep 0.2; wait_up_git
git -C "$w" push -q "git://127.0.0.1:$gp/acme/pkg.git" main
for i in $(seq 1 "$n"); do git -C "$w" -c user.email=b@b -c user.name=b commit -q --allow-empty -m "c$i"; done
git -C "$w" rev-list --reverse main >"$tmp/revs"
tip=$(tail -n1 "$tmp/revs")
awk 'NR > 1 { print "refs/heads/main", prev, $1 } { prev = $1 }' "$tmp/revs" >"$tmp/pushes"
awk 'NR == 1 { print "refs/heads/main - " $1 }' "$tmp/revs" >"$tmp/first"

# run NAME PORT ENDPOINT MIRROR FETCHES_CMD: send the pushes, then poll every 5 ms; prints
# "fetches current_s done_s" where done means FETCHES_CMD's idle check passed too.
run() {
    python3 - "$@" "$send" "$tmp/pushes" "$tip" <<'PY'
import subprocess, sys, time
name, port, ep, mirror, idle_cmd, fetches_cmd, send, pushes, tip = sys.argv[1:10]
with open(pushes) as f:
    subprocess.run([sys.executable, send, port, ep, "bench", "acme/pkg"], stdin=f, check=True,
                   stdout=subprocess.DEVNULL)
t_last = time.monotonic()
def head():
    r = subprocess.run(["git", "--git-dir=" + mirror, "rev-parse", "-q", "--verify",
                        "refs/heads/main"], capture_output=True, text=True)
    return r.stdout.strip()
current = done = None
while done is None and time.monotonic() - t_last < 600:
    if current is None and head() == tip:
        current = time.monotonic() - t_last
    if current is not None and subprocess.run(idle_cmd, shell=True).returncode == 0:
        done = time.monotonic() - t_last
    time.sleep(0.005)
fetches = subprocess.run(fetches_cmd, shell=True, capture_output=True, text=True).stdout.strip()
print(fetches, "%.3f" % (current or -1), "%.3f" % (done or -1))
PY
}

# The gateway: no sync plugins, the mirror made by a first push of c0.
mkdir -p "$tmp/conf"
cat >"$tmp/conf/00.conf" <<CONF
server = { workers = 2; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "bench";
             clone_url = "git://127.0.0.1:$gp/{repository}.git"; };
CONF
hp=$(port)
"$build/cargoman" serve -c "$tmp/conf" -d "$tmp/data" -l "127.0.0.1:$hp" -P "$build/modules" 2>"$tmp/gw.log" &
gw_pid=$!
wait_up "http://127.0.0.1:$hp/healthz"
metric() { curl -s "http://127.0.0.1:$hp/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
python3 "$send" "$hp" github bench acme/pkg <"$tmp/first" >/dev/null
gmirror=$tmp/data/mirrors/github/acme/pkg.git
for _ in $(seq 1 100); do [ "$(metric cargoman_spool_depth)" = 0 ] && [ -d "$gmirror" ] && break; sleep 0.1; done
before=$(metric 'cargoman_fetches_total{result="ok"}')

# The peer: its mirror cloned at c0; each webhook runs `git fetch` into it, one at a time
# (concurrent fetches into one repository fail on its ref locks).
pmirror=$tmp/peer.git
git clone -q --mirror "git://127.0.0.1:$gp/acme/pkg.git" "$pmirror"
cat >"$tmp/hook.sh" <<HOOK
#!/bin/sh
flock "$tmp/hook.lock" git --git-dir="$pmirror" fetch -q --prune origin
echo x >>"$tmp/peer.count"
HOOK
chmod +x "$tmp/hook.sh"
pp=$(port)
if command -v webhook >/dev/null; then
    peer_name="adnanh/webhook $(webhook -version 2>/dev/null | awk '{print $NF}')"
    cat >"$tmp/hooks.json" <<JSON
[{"id": "push", "execute-command": "$tmp/hook.sh",
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "bench",
                             "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]
JSON
    webhook -hooks "$tmp/hooks.json" -ip 127.0.0.1 -port "$pp" >"$tmp/peer.log" 2>&1 &
    peer_pid=$!
    peer_ep=/hooks/push
else
    peer_name="a naive hook runner (Python stand-in for adnanh/webhook, not installed)"
    cat >"$tmp/runner.py" <<'PY'
import hashlib, hmac, http.server, subprocess, sys, threading
hook, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sig = "sha256=" + hmac.new(b"bench", body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(sig, self.headers.get("X-Hub-Signature-256", ""))
        if ok:
            threading.Thread(target=subprocess.run, args=([hook],)).start()
        self.send_response(202 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
    python3 "$tmp/runner.py" "$tmp/hook.sh" "$pp" &
    peer_pid=$!
    peer_ep=/push
fi
wait_up "http://127.0.0.1:$pp/"

# Alternate: gateway, then peer, on the same pushes (the host already holds every commit).
git -C "$w" push -q "git://127.0.0.1:$gp/acme/pkg.git" main
read -r gf gc gd < <(run gateway "$hp" github "$gmirror" \
    "[ \"\$(curl -s http://127.0.0.1:$hp/metrics | awk '\$1 == \"cargoman_spool_depth\" {print \$2}')\" = 0 ]" \
    "curl -s http://127.0.0.1:$hp/metrics | awk '\$1 == \"cargoman_fetches_total{result=\\\"ok\\\"}\" {print \$2 - $before}'")
read -r pf pc pd < <(run peer "$pp" "$peer_ep" "$pmirror" \
    "[ \"\$(wc -l <$tmp/peer.count 2>/dev/null || echo 0)\" -ge $n ]" \
    "wc -l <$tmp/peer.count")

echo "$n pushes, every commit already on the host; seconds counted from the last answer"
printf 'gateway:  %4s fetches, mirror current after %6.3f s, all synced after %6.3f s\n' "$gf" "$gc" "$gd"
printf 'peer:     %4s fetches, mirror current after %6.3f s, all hooks done after %6.3f s\n' "$pf" "$pc" "$pd"
echo "peer: $peer_name"
python3 -c "import sys; g, p, gd, pd = map(float, sys.argv[1:]); print('ratio: %.3f of the peer\'s fetches, %.3f of its time to all done' % (g / p, gd / pd))" "$gf" "$pf" "$gd" "$pd"
