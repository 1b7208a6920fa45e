#!/usr/bin/env bash
# One new tag on a package that already has many: what it costs the gateway, webhook to listed
# in /p2, split into the fetch (against `git fetch` of the same change into a mirror, the peer)
# and the Composer plugin's publishing (cargoman_plugin_duration_seconds), with the daemon's
# peak RSS. Prints the figures and the fetch ratio; then what requests for zips of commits
# nobody published cost, against /packages.json (with wrk).
#   bench/composer_tags.sh BUILD_DIR [TAGS] [ROUNDS]     (defaults: 2000 tags, 5 rounds)
set -euo pipefail
build=$(cd "${1:?usage: bench/composer_tags.sh BUILD_DIR [TAGS] [ROUNDS]}" && pwd)
tags=${2:-2000}
rounds=${3:-5}
for t in git curl python3; do command -v "$t" >/dev/null || { echo "needs $t"; exit 77; }; done
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cargoman-bench.XXXXXX")
gw_pid= ; gd_pid=
trap '[ -n "$gw_pid" ] && kill $gw_pid 2>/dev/null && wait $gw_pid 2>/dev/null; [ -n "$gd_pid" ] && kill $gd_pid 2>/dev/null; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
metric() { curl -sf "http://127.0.0.1:$gp/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# The package: TAGS commits on main, each tagged (1.<i/100>.<i%100>), made by fast-import.
git init -q --bare "$tmp/git/acme/tags.git"
git -C "$tmp/git/acme/tags.git" symbolic-ref HEAD refs/heads/main
python3 - "$tags" <<'PY' | git -C "$tmp/git/acme/tags.git" fast-import --quiet
import sys
n = int(sys.argv[1])
out = sys.stdout
def data(s):
    b = s.encode()
    out.write("data %d\n" % len(b)); out.write(s); out.write("\n")
for i in range(1, n + 1):
    out.write("commit refs/heads/main\nmark :%d\ncommitter b <b@example.com> %d +0000\n" % (i, 1700000000 + i))
    data("c%d" % i)
    out.write("M 644 inline composer.json\n"); data('{"name": "acme/tags", "description": "bench"}')
    out.write("M 644 inline VERSION\n"); data("%d" % i)
    out.write("reset refs/tags/v1.%d.%d\nfrom :%d\n\n" % (i // 100, i % 100, i))
PY
gdp=$(port)
git daemon --export-all --base-path="$tmp/git" --listen=127.0.0.1 --port="$gdp" --reuseaddr "$tmp/git" &
gd_pid=$!
git clone -q "git://127.0.0.1:$gdp/acme/tags.git" "$tmp/work" 2>/dev/null || {
    sleep 1; git clone -q "git://127.0.0.1:$gdp/acme/tags.git" "$tmp/work"; }
git -C "$tmp/work" config user.email b@example.com; git -C "$tmp/work" config user.name b
git -C "$tmp/work" remote set-url --push origin "$tmp/git/acme/tags.git"

gp=$(port)
mkdir -p "$tmp/conf"
cat >"$tmp/conf/00.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "bench";
             clone_url = "git://127.0.0.1:$gdp/{repository}.git"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$gp"; } );
CONF
"$build/cargoman" serve -c "$tmp/conf" -d "$tmp/data" -l "127.0.0.1:$gp" -P "$build/modules" 2>"$tmp/gw.log" &
gw_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$gp/healthz" >/dev/null && break; sleep 0.1; done

# hook REF NEW: a signed GitHub push creating REF at NEW.
hook() {
    python3 -c 'import json, sys; print(json.dumps({"ref": sys.argv[1], "before": "0" * 40,
      "after": sys.argv[2], "created": True, "deleted": False, "forced": False, "compare": "",
      "pusher": {"name": "b"}, "sender": {"login": "b"}, "repository": {"id": 7,
      "full_name": "acme/tags", "clone_url": "https://github.com/acme/tags.git",
      "html_url": "https://github.com/acme/tags"}}))' "$1" "$2" >"$tmp/hook.json"
    local sig
    sig=$("$build/cargoman" sign -P "$build/modules" -p github -s bench "$tmp/hook.json" | sed -n 's/^X-Hub-Signature-256: //p')
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$gp/api/webhooks/github" \
        -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H "X-GitHub-Delivery: b-$(date +%s%N)" -H "X-Hub-Signature-256: $sig" --data-binary "@$tmp/hook.json"
}
listed() { curl -sf "http://127.0.0.1:$gp/p2/acme/tags.json" 2>/dev/null | grep -q "\"$1\""; }

# The first sync publishes every tag (not measured here: one zip per version).
t0=$(now)
hook refs/heads/main "$(git -C "$tmp/work" rev-parse main)"
last="v1.$((tags / 100)).$((tags % 100))"
until listed "$last"; do sleep 0.2; done
echo "first sync of $tags tags: $(python3 -c "print('%.1f' % ($(now) - $t0))") s"

# The peer's mirror, made now, fetches each new tag the way `git fetch` would.
git clone -q --mirror "git://127.0.0.1:$gdp/acme/tags.git" "$tmp/peer.git"

# CM_BENCH_PERF=FILE: record the daemon's profile over the rounds (perf report -i FILE).
perf_pid=
if [ -n "${CM_BENCH_PERF:-}" ]; then
    perf record -q ${CM_BENCH_PERF_ARGS:--g} -p "$gw_pid" -o "$CM_BENCH_PERF" 2>/dev/null &
    perf_pid=$!
    sleep 0.5
fi
for r in $(seq 1 "$rounds"); do
    git -C "$tmp/work" commit -q --allow-empty -m "new $r"
    git -C "$tmp/work" tag "v9.0.$r"
    git -C "$tmp/work" push -q origin main "v9.0.$r"
    f0=$(metric cargoman_fetch_duration_seconds_sum); p0=$(metric 'cargoman_plugin_duration_seconds_sum{plugin="composer"}')
    c0=$(metric 'cargoman_plugin_duration_seconds_count{plugin="composer"}')
    t0=$(now)
    hook "refs/tags/v9.0.$r" "$(git -C "$tmp/work" rev-parse "v9.0.$r")"
    until listed "v9.0.$r"; do sleep 0.005; done
    t1=$(now)
    # The plugin returns after it saved its state, a moment after /p2 shows the tag.
    until [ "$(metric 'cargoman_plugin_duration_seconds_count{plugin="composer"}')" != "$c0" ]; do sleep 0.005; done
    f1=$(metric cargoman_fetch_duration_seconds_sum); p1=$(metric 'cargoman_plugin_duration_seconds_sum{plugin="composer"}')
    g0=$(now); git -C "$tmp/peer.git" fetch -q; g1=$(now)
    python3 -c "
e2e, fetch, plugin, peer = $t1 - $t0, $f1 - $f0, ${p1:-0} - ${p0:-0}, $g1 - $g0
print('round $r: webhook to listed %.3f s; fetch %.3f s (git fetch %.3f s, %.2fx); composer %.1f ms'
      % (e2e, fetch, peer, fetch / peer, plugin * 1000))"
done
[ -n "$perf_pid" ] && kill -INT "$perf_pid" && wait "$perf_pid" 2>/dev/null || true
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$gw_pid/status")
echo "gateway peak RSS: $((rss / 1024)) MB ($tags tags)"

# Zips of commits nobody published, a new one each request (a client with a read token may
# name any, and with public = true anyone may): each must cost a stat of the package's state
# file, not a parse of it. The peer: /packages.json of the same gateway, a small static file.
if command -v wrk >/dev/null; then
    here=$(cd "$(dirname "$0")" && pwd)
    rate() { wrk -t2 -c8 -d5s "$@" | awk '/Requests\/sec/ { print $2 }'; }
    peer=$(rate "http://127.0.0.1:$gp/packages.json")
    miss=$(rate -s "$here/dist_miss.lua" "http://127.0.0.1:$gp")
    python3 -c "print('zips of unpublished commits: %.0f requests/s; /packages.json: %.0f/s; ratio %.2f'
      % ($miss, $peer, $miss / $peer))"
else
    echo "zips of unpublished commits: not measured (needs wrk)"
fi

# The floor under the Composer figure: Composer's p2 format is one document per package, so a
# new tag means the whole tagged p2 file written again, durably (temp file, fdatasync, rename,
# directory fsync), as the plugin writes it, and its state file likewise. Writing files of
# those sizes that way, with no JSON work at all, in the same data directory:
p2=$(find "$tmp/data" -path '*/p2/acme/tags.json' | head -n1)
state=$(find "$tmp/data/composer/repos" -name '*.json' -size +100k 2>/dev/null | head -n1)
python3 - "$p2" "${state:-}" <<'PY'
import os, statistics, sys, time
def durable(path, size):
    data, d = b'x' * size, os.path.dirname(path)
    t = time.perf_counter()
    fd = os.open(path + '.floor', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data); os.fdatasync(fd); os.close(fd)
    os.rename(path + '.floor', path + '.floor2')
    dfd = os.open(d, os.O_RDONLY); os.fsync(dfd); os.close(dfd)
    took = time.perf_counter() - t
    os.unlink(path + '.floor2')
    return took * 1000
p2, state = sys.argv[1], sys.argv[2]
sizes = [os.path.getsize(p2)] + ([os.path.getsize(state)] if state else [])
runs = [sum(durable(p2, s) for s in sizes) for _ in range(7)]
print('floor: writing %s durably, no JSON work: min %.1f ms, median %.1f ms, max %.1f ms'
      % (' + '.join('%.1f MB' % (s / 1e6) for s in sizes), min(runs), statistics.median(runs), max(runs)))
PY
