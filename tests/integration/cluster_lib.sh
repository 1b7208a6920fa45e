# What the cluster tests share (sourced after lib.sh): a real PostgreSQL this test starts
# (tests/pg_server.sh: initdb, Unix socket only) with CONNINFO and db, gateways started
# against $TMP/conf as nodes 1.. (start_node, stop_nodes), and signed GitHub pushes (hook).
need psql
chmod 755 "$TMP" # the postgres user reaches its data directory through it
PG_DIR=$TMP/pg
CONNINFO=$("$CM_SRCDIR/tests/pg_server.sh" start "$PG_DIR") || {
    rc=$?
    [ "$rc" -eq 77 ] && exit 77
    echo "cannot start PostgreSQL (tests/pg_server.sh)"
    exit 1
}
cluster_cleanup() {
    for f in "$TMP"/node*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
    "$CM_SRCDIR/tests/pg_server.sh" stop "$PG_DIR"
    cleanup
}
trap cluster_cleanup EXIT
export CARGOMAN_DATABASE_URL=$CONNINFO
db() { psql -X -A -t -q "$CONNINFO" -c "$1"; }

# start_node I: gateway I on a port of its own (NODE_PORT[I]), with a data directory of its own.
declare -a NODE_PORT
# With CM_VALGRIND=1 each node runs under valgrind, and stop_nodes wants them error-free.
start_node() {
    local i=$1 vg=
    NODE_PORT[$i]=$(free_port)
    [ "${CM_VALGRIND:-0}" = 1 ] && vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$TMP/valgrind.node$i.%p.log"
    $vg "$INST_BIN" serve -c "$TMP/conf" -d "$TMP/data$i" -l "127.0.0.1:${NODE_PORT[$i]}" \
        -P "$INST_PLUGINS" >>"$TMP/node$i.log" 2>&1 &
    echo $! >"$TMP/node$i.pid"
    WAIT_SECONDS=120 wait_for curl -sf "http://127.0.0.1:${NODE_PORT[$i]}/healthz" ||
        { cat "$TMP/node$i.log"; echo "node $i did not start"; exit 1; }
}
# stop_nodes: SIGTERM to every node still running; each must exit 0 (under valgrind: without
# errors or leaks).
stop_nodes() {
    local i pid rc
    for f in "$TMP"/node*.pid; do
        [ -f "$f" ] || continue
        i=${f##*/node}
        i=${i%.pid}
        pid=$(cat "$TMP/node$i.pid")
        kill -TERM "$pid" 2>/dev/null
        rc=0
        wait "$pid" || rc=$?
        rm -f "$TMP/node$i.pid"
        expect_eq "node $i exits cleanly on SIGTERM" "$rc" 0
        [ "$rc" -eq 0 ] || cat "$TMP"/valgrind.node$i.*.log 2>/dev/null
    done
}
# hook NODE REPO COMMIT DELIVERY [BEFORE]: a GitHub push to node NODE moving main from BEFORE
# (default: the commit's parent, as a host reports a push) to COMMIT, signed with $HOOK_SECRET
# (default the endpoint's, s3cr3t); prints the status.
hook() {
    local before=${5:-$(git --git-dir="$TMP/git/$2.git" rev-parse -q --verify "$3^" || printf '0%.0s' $(seq 40))}
    github_push "$2" "$3" | sed "s/\"before\": \"1\{40\}\"/\"before\": \"$before\"/" >"$TMP/hook.json"
    local sig
    sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s "${HOOK_SECRET:-s3cr3t}" "$TMP/hook.json" |
        sed -n 's/^X-Hub-Signature-256: //p')
    curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST \
        "http://127.0.0.1:${NODE_PORT[$1]}/api/webhooks/github" \
        -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H "X-GitHub-Delivery: $4" -H "X-Hub-Signature-256: $sig" --data-binary "@$TMP/hook.json"
}
