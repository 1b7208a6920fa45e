#!/usr/bin/env bash
# Two gateways sharing one PostgreSQL (tests/pg_server.sh, as cluster.sh): every node answers
# /api/deliveries and /api/repositories for the whole cluster (issue 12).
#   - a push accepted on node 1 is "done" in /api/deliveries of both nodes, with the node
#     that received it; a bad signature on node 1 is listed on node 2;
#   - /api/repositories of both nodes lists the repository; paging and filters work;
#   - a record received by the other node: its payload is there ("payload_node"), and a
#     replay of it is refused (409) naming that node;
#   - the database stopped: the API answers 503 (never this node's part as the whole) while
#     intake answers as it does without the log; records made after it is back appear.
. "$(dirname "$0")/lib.sh"
need curl python3 git psql

. "$(dirname "$0")/cluster_lib.sh"

install_gateway
start_git_daemon
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-cluster.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; sync_coalesce_ms = 100; };
queue = { backend = "postgresql"; conninfo = "\${CARGOMAN_DATABASE_URL}"; lease_seconds = 3;
          timeout_ms = 2000; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "s3cr3t";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
out=$("$INST_BIN" db migrate -c "$TMP/conf" 2>&1)
expect_contains "db migrate makes the schema, the shared delivery log too" "$out" "migrated from"
expect_eq "the delivery log's tables exist" \
    "$(db "SELECT count(*) FROM pg_tables WHERE tablename IN ('cargoman_activity', 'cargoman_repositories')")" 2

for i in 1 2; do start_node "$i"; done

# api NODE PATH: the body of GET PATH on node NODE (its status in $TMP/api.code).
api() {
    curl -s -o "$TMP/api.out" -w '%{http_code}' "http://127.0.0.1:${NODE_PORT[$1]}$2" >"$TMP/api.code"
    cat "$TMP/api.out"
}
# field NODE DELIVERY KEY: KEY of the record of delivery id DELIVERY in node NODE's list.
field() {
    api "$1" "/api/deliveries?limit=1000" | python3 -c '
import json, sys
for d in json.load(sys.stdin)["deliveries"]:
    if d.get("delivery_id") == sys.argv[1]:
        print(d.get(sys.argv[2])); break' "$2" "$3"
}
is_done() { [ "$(field "$1" "$2" state)" = done ]; }

# 1. A push on node 1, synced by whichever node claims it: done in both nodes' lists.
new_repo_at acme/app "$TMP/work/app"
echo 1 >"$TMP/work/app/f" && git -C "$TMP/work/app" add f &&
    git -C "$TMP/work/app" commit -qm c1 && git -C "$TMP/work/app" push -q origin main
head=$(git -C "$TMP/work/app" rev-parse main)
expect_eq "a push on node 1 is accepted" "$(hook 1 acme/app "$head" act-1)" 202
for i in 1 2; do
    wait_for is_done "$i" act-1 && ok "node $i lists act-1 as done" ||
        not_ok "node $i: act-1 is '$(field "$i" act-1 state)', not done"
done
expect_eq "node 2 says which node received it" "$(field 2 act-1 node)" "$(hostname)/127.0.0.1:${NODE_PORT[1]}"
expect_eq "one attempt, whichever node synced it" "$(field 2 act-1 attempts)" 1

# 2. A bad signature on node 1 is listed on node 2.
expect_eq "a bad signature on node 1 is refused" "$(HOOK_SECRET=wrong hook 1 acme/app "$head" act-bad)" 401
rejected() { api 2 "/api/deliveries?state=rejected" | grep -q '"node": "'"$(hostname)/127.0.0.1:${NODE_PORT[1]}"; }
wait_for rejected && ok "node 2 lists node 1's refused delivery" ||
    not_ok "node 2 does not list the refusal: $(cat "$TMP/api.out")"

# 3. Every node lists the repository, with the node that synced it last.
for i in 1 2; do
    listed() { api "$1" /api/repositories | grep -q '"repository": "acme/app"'; }
    wait_for listed "$i" && ok "node $i lists acme/app in /api/repositories" ||
        not_ok "node $i: $(cat "$TMP/api.out")"
    api "$i" /api/repositories/github/acme/app >/dev/null
    expect_eq "node $i answers /api/repositories/github/acme/app" "$(cat "$TMP/api.code")" 200
done
expect_contains "its document has the head synced" "$(api 2 /api/repositories/github/acme/app)" "$head"

# 4. Paging and filters, answered from the database: three more pushes, two per page.
for n in 2 3 4; do
    echo "$n" >"$TMP/work/app/f" && git -C "$TMP/work/app" add f &&
        git -C "$TMP/work/app" commit -qm "c$n" && git -C "$TMP/work/app" push -q origin main
    hook $((n % 2 + 1)) acme/app "$(git -C "$TMP/work/app" rev-parse main)" "act-$n" >/dev/null
done
for n in 2 3 4; do wait_for is_done 1 "act-$n"; done
pages=$(python3 - "http://127.0.0.1:${NODE_PORT[2]}" <<'PY'
import json, sys, urllib.request
base, ids, url = sys.argv[1], [], "/api/deliveries?limit=2&endpoint=github&repository=acme/app&state=done"
while url:
    page = json.load(urllib.request.urlopen(base + url))
    assert len(page["deliveries"]) <= 2, page
    ids += [d["delivery_id"] for d in page["deliveries"]]
    url = page["next"]
print(" ".join(ids))
PY
)
expect_eq "pages of two, filtered, newest first, none twice" "$pages" "act-4 act-3 act-2 act-1"
expect_eq "an unknown repository filters everything out" \
    "$(api 1 '/api/deliveries?repository=acme/none' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["deliveries"]))')" 0

# 5. The record of a delivery node 1 received, read on node 2: its payload is node 1's.
rec=$(field 2 act-1 record_id)
one=$(api 2 "/api/deliveries/$rec")
expect_contains "node 2 names the node with the payload" "$one" \
    "\"payload_node\": \"$(hostname)/127.0.0.1:${NODE_PORT[1]}\""
expect_contains "node 1 shows the payload itself" "$(api 1 "/api/deliveries/$rec")" '"after": "'"$head"
code=$(curl -s -o "$TMP/replay.out" -w '%{http_code}' -X POST \
    "http://127.0.0.1:${NODE_PORT[2]}/api/deliveries/$rec/replay")
expect_eq "a replay on node 2 of node 1's delivery is refused" "$code" 409
expect_contains "naming node 1" "$(cat "$TMP/replay.out")" "127.0.0.1:${NODE_PORT[1]}"

# 5b. A resync's 202 gives the answering node's own record id and names it; with ?node= the
# other node finds that record in the cluster's log. A resync needs the node's own mirror, and
# whichever node claimed the push has it: ask that one (R), look it up from the other (L).
R=1; L=2
[ -d "$TMP/data1/mirrors/github/acme/app.git" ] || { R=2; L=1; }
# A 503 (a statement past queue.timeout_ms on a loaded machine, under valgrind) is tried again.
resynced() {
    r=$(curl -s -X POST "http://127.0.0.1:${NODE_PORT[$R]}/api/repositories/github/acme/app/resync")
    rid=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["record_id"], d["node"])' "$r" 2>/dev/null)
    [ -n "$rid" ]
}
wait_for resynced || not_ok "the resync was not accepted: $r"
expect_eq "the resync's answer names the node that made it" "${rid#* }" "$(hostname)/127.0.0.1:${NODE_PORT[$R]}"
by_node() { api "$L" "/api/deliveries/${rid%% *}?node=${rid#* }" | grep -q '"repository": "acme/app"'; }
wait_for by_node && ok "the other node finds its record ${rid%% *} by ?node=" ||
    not_ok "node $L: /api/deliveries/${rid%% *}?node=... is $(cat "$TMP/api.code"): $(cat "$TMP/api.out")"
api "$L" "/api/deliveries/999999?node=${rid#* }" >/dev/null
expect_eq "a record number that node never gave is 404" "$(cat "$TMP/api.code")" 404

# 6. The database goes away: the API answers 503, intake answers as it does without the log.
"$CM_SRCDIR/tests/pg_server.sh" kill "$PG_DIR"
api 2 /api/deliveries >/dev/null
expect_eq "with the database down /api/deliveries is 503" "$(cat "$TMP/api.code")" 503
expect_contains "with a one-line reason" "$(cat "$TMP/api.out")" "cannot be read now"
api 1 /api/repositories >/dev/null
expect_eq "and /api/repositories is 503" "$(cat "$TMP/api.code")" 503
api 1 "/api/deliveries/$rec" >/dev/null
expect_eq "and one record is 503" "$(cat "$TMP/api.code")" 503
expect_eq "a bad signature is still refused at once" "$(HOOK_SECRET=wrong hook 2 acme/app "$head" down-bad)" 401
expect_eq "a push is answered 503 (the queue is down too)" "$(hook 1 acme/app "$head" down-1)" 503
expect_eq "/healthz still answers" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${NODE_PORT[1]}/healthz")" 200
dropped() { grep -q "the cluster's delivery log: cannot write" "$TMP/node2.log"; }
wait_for dropped && ok "node 2's log says records are dropped" || not_ok "no drop in node 2's log"
dropped_count() { curl -s "http://127.0.0.1:${NODE_PORT[2]}/metrics" | awk '$1 == "cargoman_delivery_log_dropped_total" {print $2}'; }
counted() { [ "$(dropped_count)" -gt 0 ] 2>/dev/null; }
wait_for counted && ok "and /metrics counts them ($(dropped_count))" ||
    not_ok "cargoman_delivery_log_dropped_total is '$(dropped_count)'"

# 7. It comes back: what is recorded from then on appears on every node.
"$CM_SRCDIR/tests/pg_server.sh" restart "$PG_DIR" >/dev/null
echo 5 >"$TMP/work/app/f" && git -C "$TMP/work/app" add f &&
    git -C "$TMP/work/app" commit -qm c5 && git -C "$TMP/work/app" push -q origin main
back() { [ "$(hook 2 acme/app "$(git -C "$TMP/work/app" rev-parse main)" after-1)" = 202 ]; }
wait_for back && ok "once the database is back a push is accepted" || not_ok "push after restart: $(cat "$TMP/hook.out")"
for i in 1 2; do
    wait_for is_done "$i" after-1 && ok "node $i lists the push made after the outage as done" ||
        not_ok "node $i: after-1 is '$(field "$i" after-1 state)'"
done
again() { grep -q "writing to the database works again" "$TMP/node2.log"; }
wait_for again && ok "node 2's log says writing works again" || not_ok "no recovery line in node 2's log"

stop_nodes
finish
