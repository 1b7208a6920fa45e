#!/usr/bin/env bash
# Webhook intake: signed 8 KB GitHub pushes, each with its own delivery id and changes, posted by wrk (2
# threads). The gateway verifies, translates and fsyncs each to its spool before the 202, with
# its syncs live against a local git daemon. Peers, one after the other on the same machine:
#   - adnanh/webhook (Debian `webhook`) with a payload-hmac-sha256 rule running /bin/true: the
#     tool a user would pick instead;
#   - libmicrohttpd, started as the gateway starts it, answering 202 with no work
#     (bench/mhd_floor.c): the ceiling of the server library the gateway is built on;
#   - nginx answering a small static file: what an HTTP server does with no work at all, the
#     physical limit of this machine.
# Prints each one's rate and p99 and the ratios.
#   bench/intake.sh BUILD_DIR [SECONDS] [CONNECTIONS]
#   (needs wrk, nginx, webhook, git: apt-get install wrk nginx-light webhook git)
set -euo pipefail
build=$(cd "${1:?usage: bench/intake.sh BUILD_DIR [SECONDS] [CONNECTIONS]}" && pwd)
secs=${2:-5}
conns=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
for t in wrk nginx webhook git curl; do
    command -v "$t" >/dev/null || { echo "needs $t (apt-get install wrk nginx-light webhook git curl)"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cargoman-bench.XXXXXX")   # a real disk: fsync must cost
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1"; exit 1; }
rate() { sed -n 's/^Requests\/sec: *//p' "$1"; }
p99() { awk '$1 == "99%" { print $2 }' "$1"; }

# The repository the pushes name, on a git daemon, so the gateway's syncs are real.
git init -q --bare "$tmp/git/acme/bench.git"
git -C "$tmp/git/acme/bench.git" symbolic-ref HEAD refs/heads/main
git init -q -b main "$tmp/work"
git -C "$tmp/work" -c user.email=b@example.com -c user.name=b commit -q --allow-empty -m one
git -C "$tmp/work" push -q "$tmp/git/acme/bench.git" main
head=$(git -C "$tmp/work" rev-parse main)
gd=$(port)
git daemon --export-all --base-path="$tmp/git" --listen=127.0.0.1 --port="$gd" --reuseaddr "$tmp/git" &
pids+=($!)

# Pushes as GitHub sends them, about 8 KB (commits listed), signed with "bench". Each names a
# different "before", so no two are the same push: an event the queue already holds for the
# same changes is answered 200 "duplicate", and the figure is for 202s only.
variants=4096
python3 - "$head" "$variants" >"$tmp/push.tsv" <<'PY'
import hashlib, hmac, json, sys
head, n = sys.argv[1], int(sys.argv[2])
commits = [{"id": head, "tree_id": "3" * 40, "distinct": True, "message": "change %d: " % i + "x" * 300,
            "timestamp": "2026-12-01T10:00:00Z", "url": "https://github.com/acme/bench/commit/" + head,
            "author": {"name": "b", "email": "b@example.com", "username": "b"},
            "committer": {"name": "b", "email": "b@example.com", "username": "b"},
            "added": [], "removed": [], "modified": ["src/file%d.php" % i]} for i in range(9)]
for v in range(n):
    body = json.dumps({"ref": "refs/heads/main", "before": "%040x" % (v + 1), "after": head,
      "created": False, "deleted": False, "forced": False, "compare": "", "pusher": {"name": "b"},
      "sender": {"login": "b"}, "commits": commits, "head_commit": commits[-1],
      "repository": {"id": 1, "full_name": "acme/bench",
      "clone_url": "https://github.com/acme/bench.git", "ssh_url": "git@github.com:acme/bench.git",
      "html_url": "https://github.com/acme/bench"}})
    print("sha256=" + hmac.new(b"bench", body.encode(), hashlib.sha256).hexdigest() + "\t" + body)
PY
# The signature the gateway itself computes, so a bench that signs wrongly fails here.
first=$(head -n1 "$tmp/push.tsv")
sig=$(printf '%s' "${first#*$'\t'}" | "$build/cargoman" sign -P "$build/modules" -p github -s bench - | sed -n 's/^X-Hub-Signature-256: //p')
[ "$sig" = "${first%%$'\t'*}" ] || { echo "bench signature $sig differs from the gateway's"; exit 1; }
export CM_BENCH_PUSHES="$tmp/push.tsv"
bytes=$(printf '%s' "${first#*$'\t'}" | wc -c)
run_wrk() { wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/intake.lua" "$1" >"$2"; }

# The gateway: one signed GitHub endpoint, its syncs fetching from the git daemon.
mkdir -p "$tmp/conf"
cat >"$tmp/conf/00.conf" <<CONF
server = { workers = 2; max_connections = 1024; max_connections_per_ip = 0;
           reconcile_interval = 0; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "bench";
             clone_url = "git://127.0.0.1:$gd/{repository}.git"; };
CONF
gp=$(port)
"$build/cargoman" serve -c "$tmp/conf" -d "$tmp/data" -l "127.0.0.1:$gp" -P "$build/modules" 2>"$tmp/gw.log" &
gw_pid=$!
pids+=($gw_pid)
wait_up "http://127.0.0.1:$gp/healthz"
# The daemon's CPU (utime + stime, in clock ticks) around the run: per accepted webhook it is
# the figure that holds still when other work shares the machine, unlike the rate.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$gw_pid/stat"; }
cpu0=$(cpu_ticks)
run_wrk "http://127.0.0.1:$gp/api/webhooks/github" "$tmp/gw.txt"
cpu1=$(cpu_ticks)
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$gw_pid/status")
metrics=$(curl -s "http://127.0.0.1:$gp/metrics")
fetches=$(awk '$1 ~ /^cargoman_fetches_(total|skipped_total)/ { s = s " " $1 "=" $2 } END { print s }' <<<"$metrics")
codes=$(awk '/^cargoman_webhook_requests_total/ { sub(/.*code="/, "", $1); sub(/".*/, "", $1); s = s " " $1 ":" $2 } END { print s }' <<<"$metrics")

# adnanh/webhook: the same signature check, then /bin/true.
wp=$(port)
cat >"$tmp/hooks.json" <<JSON
[{"id": "github", "execute-command": "/bin/true", "response-message": "queued",
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "bench",
    "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}}]
JSON
webhook -hooks "$tmp/hooks.json" -ip 127.0.0.1 -port "$wp" >"$tmp/webhook.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$wp/"
run_wrk "http://127.0.0.1:$wp/hooks/github" "$tmp/wh.txt"

# libmicrohttpd with no work: the same payloads and connections, 16 threads as the gateway.
make -s -C "$build" bench/mhd_floor >/dev/null
fp=$(port)
"$build/bench/mhd_floor" "$fp" 16 &
pids+=($!)
wait_up "http://127.0.0.1:$fp/"
run_wrk "http://127.0.0.1:$fp/api/webhooks/github" "$tmp/fl.txt"

# nginx serving a small static file.
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
pids+=($!)
wait_up "http://127.0.0.1:$np/"
wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$np/" >"$tmp/ng.txt"

for f in gw wh fl; do grep -E "non-2xx|Socket errors" "$tmp/$f.txt" | sed "s/^/$f: /" || true; done
g=$(rate "$tmp/gw.txt"); w=$(rate "$tmp/wh.txt"); f=$(rate "$tmp/fl.txt"); n=$(rate "$tmp/ng.txt")
echo "payload: $bytes bytes, $conns connections, ${secs} s each"
echo "gateway (verify, translate, fsync'd spool, syncs live): $g/s  p99 $(p99 "$tmp/gw.txt")"
echo "  gateway answers (code:count):$codes;$fetches"
accepted=$(awk '/^cargoman_webhook_requests_total/ && /code="202"/ { s += $2 } END { print s + 0 }' <<<"$metrics")
python3 -c "import sys; t, a, k, h = map(float, sys.argv[1:]); print('  gateway CPU per accepted webhook: %.3f ms; peak RSS %.1f MB' % (t / k * 1000 / max(a, 1), h / 1024))" \
    "$((cpu1 - cpu0))" "$accepted" "$(getconf CLK_TCK)" "$hwm"
echo "adnanh/webhook (hmac rule, /bin/true):                 $w/s  p99 $(p99 "$tmp/wh.txt")"
echo "libmicrohttpd answering 202, no work:                  $f/s  p99 $(p99 "$tmp/fl.txt")"
echo "nginx static file:                                      $n/s  p99 $(p99 "$tmp/ng.txt")"
python3 - "$g" "$w" "$f" "$n" <<'PY'
import sys
g, w, f, n = map(float, sys.argv[1:])
print('ratio: %.2fx adnanh/webhook, %.3f of libmicrohttpd with no work, %.3f of nginx' % (g / w, g / f, g / n))
print('5x adnanh/webhook would be %.0f/s: %.2f of libmicrohttpd with no work, %.2f of nginx' % (5 * w, 5 * w / f, 5 * w / n))
PY
