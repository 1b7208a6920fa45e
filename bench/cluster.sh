#!/usr/bin/env bash
# Issue 12's figures: 1 gateway, then 3 gateways sharing one PostgreSQL queue (a real server,
# fsync on, its data under /var/tmp), with a git daemon made I/O-bound, as a far host is, by
# tests/integration/slow_proxy.py (CM_BENCH_GIT_DELAY seconds before each connection's answer):
#   1. synced repositories/s: REPOS small repositories never seen before, one signed push each,
#      round-robin to the nodes (4 workers each), from the first webhook until nothing is
#      queued; and the 3-node/1-node ratio;
#   2. accepted webhooks/s: wrk (bench/intake.lua) against the one node, then one wrk per node
#      in parallel, each process with its own delivery ids and its own pushes; 202s only, from
#      the nodes' /metrics;
#   3. dead tuples over a soak: SOAK_SECONDS of steady pushes across the 3 nodes, while new
#      commits keep the syncs fetching; n_dead_tup / n_live_tup of the queue's tables every 10 s.
# A benchmark: it prints, it does not pass or fail.
#   bench/cluster.sh BUILD_DIR [REPOS] [SOAK_SECONDS]        defaults: 60 60 (0: no soak)
#   env: CM_BENCH_GIT_DELAY (0.3 s), CM_BENCH_SECONDS (wrk, 5), CM_BENCH_CONNECTIONS (32),
#        CM_BENCH_HOT_REPOS (repositories the wrk pushes name, 64), CM_BENCH_SOAK_RATE (300/s),
#        CM_BENCH_COMPOSER (1: every node runs the Composer sync plugin, whose state the cluster
#        shares: part 1 then includes one node at a time publishing)
#   (needs wrk, git, psql, curl, python3 and the PostgreSQL server: apt-get install wrk git
#   postgresql curl python3)
set -euo pipefail
usage="usage: bench/cluster.sh BUILD_DIR [REPOS] [SOAK_SECONDS]"
build=$(cd "${1:?$usage}" && pwd)
repos=${2:-60}
soak=${3:-60}
git_delay=${CM_BENCH_GIT_DELAY:-0.3}
secs=${CM_BENCH_SECONDS:-5}
conns=${CM_BENCH_CONNECTIONS:-32}
hot=${CM_BENCH_HOT_REPOS:-64}
soak_rate=${CM_BENCH_SOAK_RATE:-300}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
for t in wrk git psql curl python3; do
    command -v "$t" >/dev/null || { echo "SKIP: needs $t (apt-get install wrk git postgresql curl python3)"; exit 77; }
done
[ -x "$build/cargoman" ] || { echo "no $build/cargoman: build first"; exit 1; }

# A real disk: the figure of part 2 is the cost of a durable commit.
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cargoman-cluster.XXXXXX")
chmod 755 "$tmp" # the postgres user reaches its data directory through it
[ "$(stat -f -c %T "$tmp")" = tmpfs ] && echo "warning: $tmp is a tmpfs: fsync costs nothing there"
pids=()
declare -a NODE_PORT NODE_PID
cleanup() {
    local p
    trap '' INT TERM HUP # a second signal must not cut the cleanup short
    for p in "${pids[@]}" "${NODE_PID[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$src/tests/pg_server.sh" stop "$tmp/pg" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

rc=0
conninfo=$(CM_PG_FSYNC=on "$src/tests/pg_server.sh" start "$tmp/pg") || rc=$?
[ "$rc" -eq 77 ] && exit 77
[ "$rc" -eq 0 ] || { echo "cannot start PostgreSQL (tests/pg_server.sh)"; exit 1; }
export CARGOMAN_DATABASE_URL=$conninfo
db() { psql -X -A -t -q "$conninfo" -c "$1"; }
queued() { db 'SELECT coalesce(sum(queued), 0) FROM cargoman_jobs'; }
# drain SECONDS: wait until nothing is queued (0) or the deadline passes (1).
drain() {
    local end=$((SECONDS + $1))
    until [ "$(queued)" = 0 ]; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.05
    done
}

# The repositories: a small template (a composer.json, 20 files, 3 commits), copied under
# every name the bench uses, served by git daemon behind the slow proxy.
git init -q -b main "$tmp/work"
git -C "$tmp/work" config user.email b@example.com
git -C "$tmp/work" config user.name b
printf '{"name": "acme/bench", "type": "library"}\n' >"$tmp/work/composer.json"
for c in 1 2 3; do
    for f in $(seq 1 20); do echo "file $f, commit $c" >"$tmp/work/f$f.txt"; done
    git -C "$tmp/work" add -A && git -C "$tmp/work" commit -q -m "commit $c"
done
head=$(git -C "$tmp/work" rev-parse main)
git init -q --bare "$tmp/template.git"
git -C "$tmp/template.git" symbolic-ref HEAD refs/heads/main
git -C "$tmp/work" push -q "$tmp/template.git" main
mkdir -p "$tmp/git/acme"
copy_repos() { # PREFIX COUNT
    local i
    for i in $(seq 0 $(($2 - 1))); do cp -r "$tmp/template.git" "$tmp/git/acme/$1-$i.git"; done
}
copy_repos hot "$hot"
gd=$(port)
git daemon --export-all --base-path="$tmp/git" --listen=127.0.0.1 --port="$gd" --reuseaddr \
    "$tmp/git" 2>"$tmp/gitd.log" &
pids+=("$!")
echo "$git_delay" >"$tmp/delay"
slow=$(port)
python3 "$src/tests/integration/slow_proxy.py" "$slow" "$gd" "$tmp/delay" "$tmp/proxy.pid" &
pids+=("$!")
for _ in $(seq 1 100); do [ -s "$tmp/proxy.pid" ] && break; sleep 0.1; done
git ls-remote "git://127.0.0.1:$slow/acme/hot-0.git" >/dev/null ||
    { echo "the git daemon does not answer through the proxy"; exit 1; }

mkdir -p "$tmp/conf"
cat >"$tmp/conf/00-cluster.conf" <<CONF
server = { workers = 4; max_connections = 1024; max_connections_per_ip = 0;
           reconcile_interval = 0; new_repositories_per_hour = 0; };
queue = { backend = "postgresql"; conninfo = "\${CARGOMAN_DATABASE_URL}"; lease_seconds = 30; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "bench";
             clone_url = "git://127.0.0.1:$slow/{repository}.git"; };
CONF
[ "${CM_BENCH_COMPOSER:-0}" = 1 ] &&
    echo 'sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:1"; } );' >>"$tmp/conf/00-cluster.conf"
"$build/cargoman" db migrate -c "$tmp/conf" >"$tmp/migrate.log" 2>&1 ||
    { cat "$tmp/migrate.log"; echo "cargoman db migrate failed"; exit 1; }

start_node() { # I
    local i=$1
    NODE_PORT[$i]=$(port)
    "$build/cargoman" serve -c "$tmp/conf" -d "$tmp/data$i" -l "127.0.0.1:${NODE_PORT[$i]}" \
        -P "$build/modules" >>"$tmp/node$i.log" 2>&1 &
    NODE_PID[$i]=$!
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:${NODE_PORT[$i]}/healthz" && return 0
        sleep 0.1
    done
    cat "$tmp/node$i.log"
    echo "node $i did not start"
    exit 1
}
# metric I AWK-CONDITION: the sum of node I's /metrics lines that match.
metric() {
    curl -s "http://127.0.0.1:${NODE_PORT[$1]}/metrics" | awk "$2 { s += \$2 } END { print s + 0 }"
}
accepted() { metric "$1" '/^cargoman_webhook_requests_total/ && /code="202"/'; }
fetched() { metric "$1" '$1 == "cargoman_fetches_total{result=\"ok\"}"'; }
codes() { # N: every node's answers, code:count
    local i
    for i in $(seq 1 "$1"); do
        curl -s "http://127.0.0.1:${NODE_PORT[$i]}/metrics" | awk '/^cargoman_webhook_requests_total/ {
            sub(/.*code="/, "", $1); sub(/".*/, "", $1); c[$1] += $2 } END { for (k in c) print k, c[k] }'
    done | awk '{ c[$1] += $2 } END { for (k in c) s = s " " k ":" c[k]; print s }'
}

# Part 1. send_pushes PREFIX COUNT N: one signed push per repository acme/PREFIX-0..COUNT-1
# (their first: "created", before 000...0), round-robin to nodes 1..N over keep-alive
# connections; prints the time of the first and the answers.
send_pushes() {
    python3 - bench "$head" "$1" "$2" "${NODE_PORT[@]:1:$3}" <<'PY'
import hashlib, hmac, http.client, json, sys, time, zlib
secret, head, prefix, n = sys.argv[1].encode(), sys.argv[2], sys.argv[3], int(sys.argv[4])
ports = [int(p) for p in sys.argv[5:]]
reqs = []
for i in range(n):
    repo = "acme/%s-%d" % (prefix, i)
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": head,
        "created": True, "deleted": False, "forced": False, "compare": "", "pusher": {"name": "b"},
        "sender": {"login": "b"}, "repository": {"id": zlib.crc32(repo.encode()), "full_name": repo,
        "clone_url": "https://github.com/%s.git" % repo, "ssh_url": "git@github.com:%s.git" % repo,
        "html_url": "https://github.com/" + repo}}).encode()
    sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    reqs.append((ports[i % len(ports)], body, sig, "%s-%d-%d" % (prefix, time.time_ns(), i)))
conns = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=30) for p in ports}
codes = {}
t0 = time.time()
for port, body, sig, delivery in reqs:
    c = conns[port]
    c.request("POST", "/api/webhooks/github", body, {"Content-Type": "application/json",
              "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig})
    r = c.getresponse()
    r.read()
    codes[r.status] = codes.get(r.status, 0) + 1
print("%.6f%s" % (t0, "".join(" %d:%d" % kv for kv in sorted(codes.items()))))
PY
}
# sync_run N: part 1 with nodes 1..N up; sets SYNC_RATE[N].
declare -a SYNC_RATE
sync_run() {
    local n=$1 i out t0 t1 f0=() f1=() per=""
    copy_repos "r$n" "$repos"
    for i in $(seq 1 "$n"); do f0[$i]=$(fetched "$i"); done
    out=$(send_pushes "r$n" "$repos" "$n")
    t0=${out%% *}
    if drain 300; then
        t1=$(now)
    else
        t1=$(now)
        echo "  (still queued after 300 s: $(queued); failed: $(db 'SELECT count(*) FROM cargoman_failed'))"
    fi
    for i in $(seq 1 "$n"); do f1[$i]=$(fetched "$i"); per="$per $((f1[i] - f0[i]))"; done
    SYNC_RATE[$n]=$(calc "$repos / ($t1 - $t0)")
    printf '  %d node(s): %d repositories synced in %.2f s: %.1f repositories/s\n' "$n" "$repos" \
        "$(calc "$t1 - $t0")" "${SYNC_RATE[$n]}"
    echo "    answers:${out#* }; first clones per node:$per"
}

# Part 2. The pushes wrk sends, as bench/intake.sh's (signed 8 KB GitHub pushes, nine commits
# listed), over the CM_BENCH_HOT_REPOS repositories: one row of cargoman_jobs per repository,
# as real traffic spreads. One file per wrk process (0: the single node; 1-3: one per node),
# their "before" ids apart: a push the queue already holds is answered 200 "duplicate".
variants=4096
python3 - "$head" "$variants" "$hot" "$tmp" <<'PY'
import hashlib, hmac, json, sys, zlib
head, n, hot, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
commits = [{"id": head, "tree_id": "3" * 40, "distinct": True, "message": "change %d: " % i + "x" * 300,
            "timestamp": "2026-12-01T10:00:00Z", "url": "https://github.com/acme/bench/commit/" + head,
            "author": {"name": "b", "email": "b@example.com", "username": "b"},
            "committer": {"name": "b", "email": "b@example.com", "username": "b"},
            "added": [], "removed": [], "modified": ["src/file%d.php" % i]} for i in range(9)]
for f in range(4):
    with open("%s/push%d.tsv" % (out, f), "w") as w:
        for v in range(n):
            repo = "acme/hot-%d" % (v % hot)
            body = json.dumps({"ref": "refs/heads/main", "before": "%040x" % (f * 10**7 + v + 1),
              "after": head, "created": False, "deleted": False, "forced": False, "compare": "",
              "pusher": {"name": "b"}, "sender": {"login": "b"}, "commits": commits,
              "head_commit": commits[-1], "repository": {"id": zlib.crc32(repo.encode()),
              "full_name": repo, "clone_url": "https://github.com/%s.git" % repo,
              "ssh_url": "git@github.com:%s.git" % repo, "html_url": "https://github.com/" + repo}})
            w.write("sha256=" + hmac.new(b"bench", body.encode(), hashlib.sha256).hexdigest() + "\t" + body + "\n")
PY
# The signature the gateway itself computes, so a bench that signs wrongly fails here.
first=$(head -n1 "$tmp/push0.tsv")
sig=$(printf '%s' "${first#*$'\t'}" | "$build/cargoman" sign -P "$build/modules" -p github -s bench - |
    sed -n 's/^X-Hub-Signature-256: //p')
[ "$sig" = "${first%%$'\t'*}" ] || { echo "bench signature $sig differs from the gateway's"; exit 1; }
bytes=$(printf '%s' "${first#*$'\t'}" | wc -c)
# wrk_node I FILE THREADS CONNS SECONDS OUT [DELAY_MS]: one wrk against node I.
wrk_node() {
    CM_BENCH_PUSHES=$tmp/push$2.tsv CM_BENCH_PREFIX=n$1-f$2-$RANDOM CM_BENCH_THREADS=$3 \
        CM_BENCH_DELAY_MS=${7:-0} wrk -t"$3" -c"$4" -d"$5s" --latency -s "$here/intake.lua" \
        "http://127.0.0.1:${NODE_PORT[$1]}/api/webhooks/github" >"$6"
}
# CPU (utime + stime, clock ticks) of the gateways 1..N, and of PostgreSQL's processes: per
# accepted webhook it is the figure that holds still when other work shares the machine.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
gw_ticks() { local i t=0; for i in $(seq 1 "$1"); do t=$((t + $(ticks "${NODE_PID[$i]}"))); done; echo $t; }
pg_ticks() {
    local pm p t=0
    pm=$(head -n1 "$tmp/pg/data/postmaster.pid")
    for p in "$pm" $(pgrep -P "$pm"); do t=$((t + $(ticks "$p"))); done
    echo $t
}
wrk_secs() { sed -n 's/.* requests in \([0-9.]*\)s.*/\1/p' "$1"; }
p99() { awk '$1 == "99%" { print $2 }' "$1"; }
# intake_run N: part 2 with nodes 1..N up; sets INTAKE_RATE[N].
declare -a INTAKE_RATE
intake_run() {
    local n=$1 i a0=() sum=0 t=0 w=() p="" s g0 g1 q0 q1
    for i in $(seq 1 "$n"); do a0[$i]=$(accepted "$i"); done
    g0=$(gw_ticks "$n") q0=$(pg_ticks)
    if [ "$n" = 1 ]; then
        wrk_node 1 0 2 "$conns" "$secs" "$tmp/wrk1.txt"
    else
        for i in $(seq 1 "$n"); do
            wrk_node "$i" "$i" 1 $((conns / n)) "$secs" "$tmp/wrk$i.txt" &
            w+=($!)
        done
        wait "${w[@]}"
    fi
    g1=$(gw_ticks "$n") q1=$(pg_ticks)
    for i in $(seq 1 "$n"); do
        sum=$((sum + $(accepted "$i") - a0[i]))
        s=$(wrk_secs "$tmp/wrk$i.txt")
        t=$(calc "max($t, ${s:-$secs})")
        p="$p $(p99 "$tmp/wrk$i.txt")"
        grep -E "Socket errors" "$tmp/wrk$i.txt" | sed "s/^/    node $i: /" || true
    done
    INTAKE_RATE[$n]=$(calc "$sum / $t")
    printf '  %d node(s): %d accepted in %.2f s: %.0f accepted/s; p99 per wrk:%s\n' "$n" "$sum" \
        "$t" "${INTAKE_RATE[$n]}" "$p"
    echo "    answers since start:$(codes "$n")"
    printf '    CPU per accepted webhook: gateways %.3f ms, PostgreSQL %.3f ms\n' \
        "$(calc "($g1 - $g0) * 1000 / $(getconf CLK_TCK) / max($sum, 1)")" \
        "$(calc "($q1 - $q0) * 1000 / $(getconf CLK_TCK) / max($sum, 1)")"
    local d0=$SECONDS
    drain 120 && echo "    backlog synced $((SECONDS - d0)) s after wrk stopped" ||
        echo "    still queued 120 s after wrk stopped: $(queued)"
}

echo "PostgreSQL $(db 'SHOW server_version'), fsync $(db 'SHOW fsync'), synchronous_commit" \
    "$(db 'SHOW synchronous_commit'), data in $tmp; git answers after $git_delay s"
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the start"
start_node 1
# The wrk pushes' repositories are cloned before any figure is taken.
out=$(send_pushes hot "$hot" 1)
drain 300 || echo "warning: the hot repositories are still queued: $(queued)"

echo "1. synced repositories/s (first clones of $repos repositories, 4 workers per node)"
sync_run 1
echo "2. accepted webhooks/s ($bytes-byte signed pushes over $hot repositories, wrk" \
    "$conns connections in all, ${secs} s)"
intake_run 1
for i in 2 3; do start_node "$i"; done
echo "1. (3 nodes)"
sync_run 3
echo "2. (3 nodes, one wrk each, in parallel)"
intake_run 3
printf 'synced repositories/s, 3 nodes / 1 node: %.2fx (issue 12: at least 2.5x)\n' \
    "$(calc "${SYNC_RATE[3]} / ${SYNC_RATE[1]}")"
printf 'accepted webhooks/s: 1 node %.0f, 3 nodes %.0f (%.2fx; issue 12: at least 1500)\n' \
    "${INTAKE_RATE[1]}" "${INTAKE_RATE[3]}" "$(calc "${INTAKE_RATE[3]} / ${INTAKE_RATE[1]}")"

[ "$soak" -gt 0 ] || exit 0

# Part 3. Steady pushes across the 3 nodes (one wrk each, 2 connections pausing between
# requests), and a new commit to one of the hot repositories every second, announced to the
# nodes in turn, so fetches run as well as queue syncs.
feed() {
    local n=0 k before after body sig
    declare -A last
    while :; do
        k=$((n % hot))
        git -C "$tmp/work" commit -q --allow-empty -m "soak $n"
        after=$(git -C "$tmp/work" rev-parse main)
        before=${last[$k]:-$head}
        git -C "$tmp/work" push -q -f "$tmp/git/acme/hot-$k.git" main
        last[$k]=$after
        body="{\"ref\": \"refs/heads/main\", \"before\": \"$before\", \"after\": \"$after\", \"created\": false, \"deleted\": false, \"forced\": false, \"compare\": \"\", \"pusher\": {\"name\": \"b\"}, \"sender\": {\"login\": \"b\"}, \"repository\": {\"id\": $((1000 + k)), \"full_name\": \"acme/hot-$k\", \"clone_url\": \"https://github.com/acme/hot-$k.git\", \"ssh_url\": \"git@github.com:acme/hot-$k.git\", \"html_url\": \"https://github.com/acme/hot-$k\"}}"
        sig=$(printf '%s' "$body" | "$build/cargoman" sign -P "$build/modules" -p github -s bench - |
            sed -n 's/^X-Hub-Signature-256: //p')
        curl -s -o /dev/null -X POST "http://127.0.0.1:${NODE_PORT[$((n % 3 + 1))]}/api/webhooks/github" \
            -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
            -H "X-GitHub-Delivery: soak-feed-$n" -H "X-Hub-Signature-256: $sig" --data-binary "$body" || true
        n=$((n + 1))
        sleep 1
    done
}
# The tables a webhook or a sync updates; cargoman_activity is the cluster's delivery log.
soak_tables="cargoman_jobs cargoman_entries cargoman_deliveries cargoman_activity"
tables=$(printf "'%s', " $soak_tables)
tables=${tables%, }
sample() { # T: a line of soak.tsv (T, then dead live autovacuums bytes per table) and a line printed
    db "SELECT relname, n_dead_tup, n_live_tup, autovacuum_count, pg_total_relation_size(relid)
        FROM pg_stat_user_tables WHERE relname IN ($tables) ORDER BY relname" |
        awk -F'|' -v t="$1" -v tsv="$tmp/soak.tsv" -v names="$soak_tables" '{ d[$1] = $2; l[$1] = $3; v[$1] = $4; b[$1] = $5 }
        END { k = split(names, n, " ")
              line = t; out = sprintf("  %5ds", t)
              for (i = 1; i <= k; i++) {
                  line = line "\t" d[n[i]] "\t" l[n[i]] "\t" v[n[i]] "\t" b[n[i]]
                  out = out sprintf("  %7d/%-6d %5d kB (%d)", d[n[i]], l[n[i]], b[n[i]] / 1024, v[n[i]])
              }
              print line >> tsv; print out }'
}
pause_ms=$(calc "max(1, int(1000 * 3 * 2 / $soak_rate))")
echo "3. dead tuples over a ${soak} s soak (pushes across 3 nodes, 2 connections each pausing" \
    "$pause_ms ms: at most $soak_rate/s; a new commit every second; autovacuum_naptime" \
    "$(db 'SHOW autovacuum_naptime'))"
acc0=0 fet0=0
for i in 1 2 3; do acc0=$((acc0 + $(accepted "$i"))); fet0=$((fet0 + $(fetched "$i"))); done
w=()
for i in 1 2 3; do
    wrk_node "$i" "$i" 1 2 "$soak" "$tmp/soak$i.txt" "$pause_ms" &
    w+=($!)
done
feed >/dev/null 2>&1 &
feeder=$!
pids+=("$feeder")
start=$SECONDS
echo "          jobs: dead/live, size (autovacuums)   entries                        deliveries                     activity"
sample 0
for k in $(seq 1 $((soak / 10))); do
    while [ $((SECONDS - start)) -lt $((k * 10)) ]; do sleep 0.2; done
    sample $((k * 10))
done
wait "${w[@]}"
kill "$feeder" 2>/dev/null || true
wait "$feeder" 2>/dev/null || true
acc1=0 fet1=0
for i in 1 2 3; do acc1=$((acc1 + $(accepted "$i"))); fet1=$((fet1 + $(fetched "$i"))); done
echo "  accepted $((acc1 - acc0)) pushes ($(calc "round(($acc1 - $acc0) / $soak)")/s)," \
    "$((fet1 - fet0)) fetches (sizes include the indexes)"
# An update that changes an indexed column (or one an index's WHERE names) cannot be HOT: its
# old version stays until a vacuum, where a HOT one is pruned on the page.
echo "  updates since the start (HOT of all): $(db "SELECT string_agg(relname || ' ' || n_tup_hot_upd
    || ' of ' || n_tup_upd, ', ' ORDER BY relname) FROM pg_stat_user_tables WHERE relname IN ($tables)")"
# Bounded: the dead tuples rise between vacuums and fall at each (a sawtooth) whose peaks do
# not grow; growing: no vacuum brought them down, or each peak higher than the one before.
python3 - "$tmp/soak.tsv" $soak_tables <<'PY'
import sys
rows = [[int(x) for x in l.split("\t")] for l in open(sys.argv[1]) if l.strip()]
if len(rows) < 2:
    print("  (soak shorter than 10 s: no sample)")
    sys.exit(0)
for i, name in enumerate(sys.argv[2:]):
    dead, live, vac, size = ([r[1 + 4 * i + k] for r in rows] for k in range(4))
    peaks, cur = [], dead[0]
    for j in range(1, len(dead)):
        if dead[j] < dead[j - 1]:
            peaks.append(cur)
            cur = 0
        cur = max(cur, dead[j])
    if max(dead) == 0:
        verdict = "no dead tuples"
    elif not peaks:
        verdict = "rising all along: nothing brought it down in %d s" % rows[-1][0]
    elif len(peaks) == 1:
        verdict = "brought down once (autovacuums: %d): too short to see whether the peaks grow" % (vac[-1] - vac[0])
    elif max((peaks + [cur])[len(peaks) // 2 + 1:]) <= 1.5 * max(peaks[:len(peaks) // 2 + 1]):
        verdict = "bounded: a sawtooth, brought down %d times (autovacuums: %d)" % (len(peaks), vac[-1] - vac[0])
    else:
        verdict = "peaks growing: autovacuum is not keeping up"
    print("  %-20s max dead %d; live %d -> %d; size %d -> %d kB; %s" % (name, max(dead), live[0],
          live[-1], size[0] // 1024, size[-1] // 1024, verdict))
    if len(peaks) > 1:
        print("  %-20s peaks between drops: %s" % ("", " ".join(str(p) for p in peaks + [cur])))
PY
