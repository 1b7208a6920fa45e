#!/usr/bin/env bash
# Three gateways sharing one PostgreSQL queue (queue.backend = "postgresql"), with a real
# server this test starts (tests/pg_server.sh: initdb, Unix socket only) and a real git daemon
# behind a proxy that can make it slow. Webhooks go round-robin to the three:
#   - a burst of 200 pushes for one repository: every one answered 202, all synced, at most
#     5 fetches across the cluster;
#   - a delivery id accepted by one node is a duplicate on every node;
#   - a node killed with SIGKILL in the middle of a fetch loses nothing: another node takes
#     the repository over once the lease runs out and syncs it.
. "$(dirname "$0")/lib.sh"
need curl python3 git psql

. "$(dirname "$0")/cluster_lib.sh"

install_gateway
start_git_daemon
echo 0 >"$TMP/delay"
SLOW_PORT=$(free_port)
python3 "$CM_SRCDIR/tests/integration/slow_proxy.py" "$SLOW_PORT" "$GIT_PORT" "$TMP/delay" \
    "$TMP/proxy.pid" &
wait_for test -s "$TMP/proxy.pid"

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-cluster.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; sync_coalesce_ms = 200; };
queue = { backend = "postgresql"; conninfo = "\${CARGOMAN_DATABASE_URL}"; lease_seconds = 3; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "s3cr3t";
             clone_url = "git://127.0.0.1:$SLOW_PORT/{repository}.git"; };
CONF

# A gateway refuses a database without its schema and says what to run; db migrate makes it.
out=$("$INST_BIN" serve -c "$TMP/conf" -d "$TMP/data0" -l "127.0.0.1:$(free_port)" \
    -P "$INST_PLUGINS" 2>&1)
expect_contains "a gateway refuses an unmigrated database" "$out" "run \`cargoman db migrate\`"
out=$("$INST_BIN" db migrate -c "$TMP/conf" 2>&1)
expect_contains "db migrate creates the schema" "$out" "migrated from version 0 to"
out=$("$INST_BIN" db migrate -c "$TMP/conf" 2>&1)
expect_contains "db migrate again has nothing to do" "$out" "nothing to do"
out=$("$INST_BIN" check -c "$TMP/conf" -P "$INST_PLUGINS" 2>&1)
expect_contains "check names the shared queue" "$out" "queue    postgresql"
case $out in *"$PG_DIR"*) not_ok "check prints the conninfo" ;; *) ok "check keeps the conninfo to itself" ;; esac

for i in 1 2 3; do start_node "$i"; done

fetches() {
    local n=0 i v
    for i in 1 2 3; do
        [ -f "$TMP/node$i.pid" ] && kill -0 "$(cat "$TMP/node$i.pid")" 2>/dev/null || continue
        v=$(curl -s "http://127.0.0.1:${NODE_PORT[$i]}/metrics" |
            awk '$1 == "cargoman_fetches_total{result=\"ok\"}" { print $2 }')
        n=$((n + ${v:-0}))
    done
    echo "$n"
}
queue_empty() { [ "$(db 'SELECT coalesce(sum(queued), 0) FROM cargoman_jobs')" = 0 ]; }

# 1. A burst of 200 pushes for one repository, round-robin, all on the host before the first.
new_repo_at acme/burst "$TMP/work/burst"
for i in $(seq 1 200); do
    echo "$i" >"$TMP/work/burst/stamp"
    git -C "$TMP/work/burst" add stamp && git -C "$TMP/work/burst" commit -qm "c$i"
done
git -C "$TMP/work/burst" push -q origin main
mapfile -t COMMITS < <(git -C "$TMP/work/burst" rev-list --reverse main)
codes=""
for i in $(seq 0 199); do
    codes="$codes $(hook $((i % 3 + 1)) acme/burst "${COMMITS[$i]}" "burst-$i")"
done
expect_eq "200 pushes round-robin: every answer a 202" \
    "$(tr ' ' '\n' <<<"$codes" | grep -c '^202$')" 200
wait_for queue_empty
expect_eq "the burst is synced: nothing left queued" "$(db 'SELECT count(*) FROM cargoman_entries')" 0
expect_eq "nothing was given up" "$(db 'SELECT count(*) FROM cargoman_failed')" 0
n=$(fetches)
[ "$n" -ge 1 ] && [ "$n" -le 5 ] && ok "200 pushes cost $n fetches across 3 nodes (at most 5)" ||
    not_ok "200 pushes cost $n fetches across 3 nodes (want 1 to 5)"
last=${COMMITS[199]}
synced_somewhere=0
for i in 1 2 3; do
    git --git-dir="$TMP/data$i/mirrors/github/acme/burst.git" cat-file -e "$last^{commit}" \
        2>/dev/null && synced_somewhere=1
done
expect_eq "the last pushed commit is in a node's mirror" "$synced_somewhere" 1

# 2. One delivery id: accepted once, a duplicate on every node.
expect_eq "a new delivery is accepted by node 1" "$(hook 1 acme/burst "${COMMITS[5]}" dup-1)" 202
expect_eq "the same delivery is a duplicate on node 2" "$(hook 2 acme/burst "${COMMITS[5]}" dup-1)" 200
expect_contains "node 2 says duplicate" "$(cat "$TMP/hook.out")" '"duplicate"'
expect_eq "and on node 3" "$(hook 3 acme/burst "${COMMITS[5]}" dup-1)" 200
wait_for queue_empty

# 3. SIGKILL of the node that is fetching: another node takes the repository over.
new_repo_at acme/slow "$TMP/work/slow"
echo one >"$TMP/work/slow/f" && git -C "$TMP/work/slow" add f &&
    git -C "$TMP/work/slow" commit -qm one && git -C "$TMP/work/slow" push -q origin main
slow_head=$(git -C "$TMP/work/slow" rev-parse main)
echo 5 >"$TMP/delay" # the git server now answers after 5 s: the fetch is in flight for that long
expect_eq "a push for a slow repository is accepted" "$(hook 1 acme/slow "$slow_head" slow-1)" 202
claimed_by() { db "SELECT node FROM cargoman_jobs WHERE repo_key = 'github/acme/slow' AND state = 'claimed'"; }
wait_for test -n "$(claimed_by)"
holder=$(claimed_by)
holder_pid=$(cut -d: -f2 <<<"$holder")
victim=
for i in 1 2 3; do [ "$(cat "$TMP/node$i.pid")" = "$holder_pid" ] && victim=$i; done
if [ -n "$victim" ]; then
    ok "node $victim claimed acme/slow and is fetching it"
    kill -9 "$holder_pid"
    rm -f "$TMP/node$victim.pid"
    echo 0 >"$TMP/delay"
    slow_done() {
        [ "$(db "SELECT count(*) FROM cargoman_entries WHERE repo_key = 'github/acme/slow'")" = 0 ]
    }
    wait_until 30 slow_done && ok "another node synced acme/slow after the kill" ||
        not_ok "acme/slow still queued after the kill: $(db 'SELECT state, node, lease_until FROM cargoman_jobs')"
    taken=0
    for i in 1 2 3; do
        [ "$i" = "$victim" ] && continue
        git --git-dir="$TMP/data$i/mirrors/github/acme/slow.git" cat-file -e \
            "$slow_head^{commit}" 2>/dev/null && taken=1
    done
    expect_eq "a surviving node's mirror has the killed node's work" "$taken" 1
    expect_eq "nothing given up after the kill" "$(db 'SELECT count(*) FROM cargoman_failed')" 0
else
    not_ok "the claim of acme/slow names no node of this test: $holder"
fi

# 4. The database goes away: accepting answers 503 with Retry-After, and nothing is
# acknowledged that is not committed; once it is back, the same delivery is accepted.
"$CM_SRCDIR/tests/pg_server.sh" kill "$PG_DIR"
alive=1
for i in 1 2 3; do [ -f "$TMP/node$i.pid" ] && alive=$i; done
code=$(hook "$alive" acme/burst "${COMMITS[7]}" down-1)
expect_eq "with the database down a push is answered 503" "$code" 503
expect_contains "the node's log says why" "$(grep 'queue: cannot' "$TMP/node$alive.log")" \
    "PostgreSQL"
errors=$(curl -s "http://127.0.0.1:${NODE_PORT[$alive]}/metrics" |
    awk '$1 == "cargoman_queue_errors_total" { print $2 }')
[ "${errors:-0}" -ge 1 ] && ok "/metrics counts the database's failures ($errors)" ||
    not_ok "cargoman_queue_errors_total is ${errors:-absent} after a failed append"
"$CM_SRCDIR/tests/pg_server.sh" restart "$PG_DIR" >/dev/null
expect_eq "once it is back the same delivery is accepted" \
    "$(hook "$alive" acme/burst "${COMMITS[7]}" down-1)" 202
expect_contains "and the log says the outage ended" "$(cat "$TMP/node$alive.log")" \
    "the database answers again"
wait_for queue_empty

stop_nodes
finish
