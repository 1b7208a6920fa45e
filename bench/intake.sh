#!/usr/bin/env bash
# Webhook intake throughput: signed GitHub pushes, each verified, translated and fsync'd to
# the spool before its 202, against nginx answering a static file on the same machine (the
# peer: what an HTTP server does with no work at all). Prints both rates and the ratio.
#   bench/intake.sh BUILD_DIR [SECONDS] [CONNECTIONS]     (needs wrk and nginx: apt-get install wrk nginx-light)
set -euo pipefail
build=$(cd "${1:?usage: bench/intake.sh BUILD_DIR [SECONDS] [CONNECTIONS]}" && pwd)
secs=${2:-5}
conns=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
for t in wrk nginx curl; do command -v "$t" >/dev/null || { echo "needs $t (apt-get install wrk nginx-light curl)"; exit 77; }; done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cargoman-bench.XXXXXX")   # a real disk: fsync must cost
gw_pid= ; ng_pid=
trap '[ -n "$gw_pid" ] && kill $gw_pid; [ -n "$ng_pid" ] && kill $ng_pid; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1"; exit 1; }
rate() { sed -n 's/^Requests\/sec: *//p' "$1"; }

# The gateway: one GitHub endpoint with a secret, no sync plugins, one worker whose fetches
# fail fast (nothing listens at the clone URL), so the bench measures intake.
mkdir -p "$tmp/conf"
cat >"$tmp/conf/00.conf" <<CONF
server = { workers = 1; max_connections = 1024; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "bench";
             clone_url = "http://127.0.0.1:9/{repository}.git"; };
CONF
gp=$(port)
"$build/cargoman" serve -c "$tmp/conf" -d "$tmp/data" -l "127.0.0.1:$gp" -P "$build/modules" 2>"$tmp/gw.log" &
gw_pid=$!
wait_up "http://127.0.0.1:$gp/healthz"

python3 - >"$tmp/push.json" <<'PY'
import json
print(json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40,
  "created": False, "deleted": False, "forced": False, "compare": "", "pusher": {"name": "b"},
  "sender": {"login": "b"}, "commits": [], "repository": {"id": 1, "full_name": "acme/bench",
  "clone_url": "https://github.com/acme/bench.git", "ssh_url": "git@github.com:acme/bench.git",
  "html_url": "https://github.com/acme/bench"}}))
PY
export CM_BENCH_BODY CM_BENCH_SIG
CM_BENCH_BODY=$(cat "$tmp/push.json")
CM_BENCH_SIG=$(printf '%s' "$CM_BENCH_BODY" | "$build/cargoman" sign -P "$build/modules" -p github -s bench - | sed -n 's/^X-Hub-Signature-256: //p')
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/intake.lua" "http://127.0.0.1:$gp/api/webhooks/github" >"$tmp/gw.txt"

# The peer: nginx serving a small static file.
np=$(port)
mkdir -p "$tmp/www" "$tmp/nginx"
chmod 755 "$tmp" "$tmp/www"   # nginx workers run as another user
printf '{"status":"queued"}' >"$tmp/www/index.json"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/nginx/pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $tmp/nginx;
       server { listen 127.0.0.1:$np; root $tmp/www; location / { try_files /index.json =404; } } }
CONF
nginx -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
ng_pid=$!
wait_up "http://127.0.0.1:$np/"
wrk -t2 -c"$conns" -d"${secs}s" "http://127.0.0.1:$np/" >"$tmp/ng.txt"

g=$(rate "$tmp/gw.txt"); n=$(rate "$tmp/ng.txt")
grep -E "non-2xx|Socket errors" "$tmp/gw.txt" || true
echo "gateway intake (verify + translate + fsync'd spool): $g webhooks/s"
echo "nginx static file (the peer):                         $n requests/s"
python3 -c "import sys; print('ratio: %.2f of nginx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$g" "$n"
