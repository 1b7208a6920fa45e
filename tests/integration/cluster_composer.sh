#!/usr/bin/env bash
# Three gateways on one PostgreSQL serve one Composer repository (issue 12): what the node
# that synced a push published is what every node serves, byte for byte, and the real
# composer client installs from any of them. Package managers reach the dist zips through a
# round-robin proxy (base_url), so nodes that never synced the repository make zips too.
#   - every node serves the same packages.json and p2 file, read from the database;
#   - composer installs from each node, and a second tag synced by another node appears on all;
#   - a node that joins later serves the index at once;
#   - a single gateway's index is kept when it becomes the first node of a cluster;
#   - a bad row in the shared state stops no sync; a node that syncs nothing catches up;
#   - with the database away a node serves its copy only where it is the cluster's.
. "$(dirname "$0")/lib.sh"
need curl python3 git psql composer unzip

. "$(dirname "$0")/cluster_lib.sh"

install_gateway
start_git_daemon
LB_PORT=$(free_port)
echo 0 >"$TMP/delay"

# A single gateway first, on the spool, publishes acme/seed: its index must survive the move.
new_repo_at acme/seed "$TMP/work/seed"
printf '{"name": "acme/seed", "type": "library"}\n' >"$TMP/work/seed/composer.json"
git -C "$TMP/work/seed" add composer.json && git -C "$TMP/work/seed" commit -qm seed &&
    git -C "$TMP/work/seed" tag v0.1.0 && git -C "$TMP/work/seed" push -q origin main v0.1.0

mkdir -p "$TMP/conf"
write_conf() { # BACKEND
    local queue=
    [ "$1" = postgresql ] &&
        queue='queue = { backend = "postgresql"; conninfo = "${CARGOMAN_DATABASE_URL}"; lease_seconds = 3; };'
    cat >"$TMP/conf/00-cluster.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; sync_coalesce_ms = 0; };
$queue
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "s3cr3t";
             clone_url = "$(git_url '{repository}')"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$LB_PORT"; } );
CONF
}
write_conf spool
serves() { # NODE PATH STRING: the node's PATH holds STRING
    curl -sf "http://127.0.0.1:${NODE_PORT[$1]}$2" | grep -q "$3"
}
start_node 1
expect_eq "a single gateway accepts acme/seed" "$(hook 1 acme/seed "$(git -C "$TMP/work/seed" rev-parse main)" seed-1)" 202
wait_for serves 1 /p2/acme/seed.json v0.1.0 && ok "the single gateway publishes acme/seed" ||
    not_ok "acme/seed not published by the single gateway"
stop_nodes

# The same data directory becomes node 1 of a cluster.
write_conf postgresql
"$INST_BIN" db migrate -c "$TMP/conf" >/dev/null 2>&1 || { echo "db migrate failed"; exit 1; }
for i in 1 2 3; do start_node "$i"; done
python3 "$CM_SRCDIR/tests/integration/slow_proxy.py" "$LB_PORT" \
    "${NODE_PORT[1]},${NODE_PORT[2]},${NODE_PORT[3]}" "$TMP/delay" "$TMP/lb.pid" &
wait_for test -s "$TMP/lb.pid"

# 1. A new package, pushed to node 2; whichever node syncs it, all three serve it.
new_repo_at acme/lib "$TMP/work/lib"
mkdir -p "$TMP/work/lib/src"
printf '{"name": "acme/lib", "type": "library", "autoload": {"psr-4": {"Acme\\\\Lib\\\\": "src/"}}}\n' \
    >"$TMP/work/lib/composer.json"
printf '<?php\nnamespace Acme\\Lib;\nclass Lib { const V = 1; }\n' >"$TMP/work/lib/src/Lib.php"
git -C "$TMP/work/lib" add -A && git -C "$TMP/work/lib" commit -qm one &&
    git -C "$TMP/work/lib" tag v1.0.0 && git -C "$TMP/work/lib" push -q origin main v1.0.0
expect_eq "a push for acme/lib is accepted by node 2" \
    "$(hook 2 acme/lib "$(git -C "$TMP/work/lib" rev-parse main)" lib-1)" 202
for i in 1 2 3; do
    wait_for serves "$i" /p2/acme/lib.json v1.0.0 && ok "node $i serves acme/lib v1.0.0" ||
        not_ok "node $i does not serve acme/lib v1.0.0"
done
for f in /packages.json /p2/acme/lib.json /p2/acme/seed.json; do
    a=$(curl -s "http://127.0.0.1:${NODE_PORT[1]}$f" | sha1sum)
    same=1
    for i in 2 3; do [ "$(curl -s "http://127.0.0.1:${NODE_PORT[$i]}$f" | sha1sum)" = "$a" ] || same=0; done
    expect_eq "every node serves the same $f" "$same" 1
done
expect_contains "the single gateway's index is the cluster's first state" \
    "$(curl -s "http://127.0.0.1:${NODE_PORT[3]}/p2/acme/seed.json")" v0.1.0
expect_eq "the database holds the shared files" \
    "$(db "SELECT count(*) > 0 FROM cargoman_state WHERE instance = 'composer' AND path = 'p2/acme/lib.json'")" t
expect_eq "dist zips are not shared: each node makes its own" \
    "$(db "SELECT count(*) FROM cargoman_state WHERE path LIKE 'dist/%'")" 0

# 2. The real composer client installs from each node (zips through the round-robin proxy).
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_ALLOW_SUPERUSER=1
install_from() { # NODE VERSION-CONSTRAINT WANT
    local p="$TMP/project$1"
    rm -rf "$p" && mkdir -p "$p"
    cat >"$p/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "http://127.0.0.1:${NODE_PORT[$1]}"}, {"packagist.org": false}],
 "require": {"acme/lib": "$2"}, "config": {"secure-http": false}, "minimum-stability": "stable"}
JSON
    (cd "$p" && COMPOSER_CACHE_DIR="$TMP/composer-cache$1-$2" composer update --no-interaction \
        --no-progress >"$TMP/composer$1.log" 2>&1)
    expect_contains "composer installs acme/lib $2 from node $1" \
        "$(cat "$p/vendor/acme/lib/src/Lib.php" 2>/dev/null)" "$3"
}
for i in 1 2 3; do install_from "$i" "^1.0" "V = 1"; done

# 3. A second tag, pushed to node 3: on every node within the sync, and installable from all.
printf '<?php\nnamespace Acme\\Lib;\nclass Lib { const V = 2; }\n' >"$TMP/work/lib/src/Lib.php"
git -C "$TMP/work/lib" commit -qam two && git -C "$TMP/work/lib" tag v1.1.0 &&
    git -C "$TMP/work/lib" push -q origin main v1.1.0
expect_eq "a push for v1.1.0 is accepted by node 3" \
    "$(hook 3 acme/lib "$(git -C "$TMP/work/lib" rev-parse main)" lib-2)" 202
for i in 1 2 3; do
    wait_for serves "$i" /p2/acme/lib.json v1.1.0 && ok "node $i serves v1.1.0" ||
        not_ok "node $i does not serve v1.1.0"
done
for i in 1 2 3; do install_from "$i" "^1.1" "V = 2"; done
# Each node itself serves the v1.1.0 zip (composer above may have fallen back to git): the
# nodes that knew acme/lib from v1.0.0 but did not sync v1.1.0 hold an old copy of its state.
Z=$(git -C "$TMP/work/lib" rev-parse v1.1.0)
for i in 1 2 3; do
    expect_eq "node $i serves the v1.1.0 zip" \
        "$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 \
            "http://127.0.0.1:${NODE_PORT[$i]}/dist/acme/lib/$Z.zip")" 200
done

# 4. A node that joins now, with an empty data directory, serves the same index at once.
start_node 4
expect_eq "a new node serves the cluster's p2 file" \
    "$(curl -s "http://127.0.0.1:${NODE_PORT[4]}/p2/acme/lib.json" | sha1sum)" \
    "$(curl -s "http://127.0.0.1:${NODE_PORT[1]}/p2/acme/lib.json" | sha1sum)"

# 5. One bad row (a file where the cluster also has a directory) stops no sync: it is skipped
# and logged on every node, and the next tag is published everywhere. Node 4, which runs no
# sync, catches up on the first request that finds it behind.
db "INSERT INTO cargoman_state (instance, path, version, body) VALUES ('composer',
    'p2/acme/lib.json/x', nextval('cargoman_state_version'), 'bad')" >/dev/null
printf '<?php\nnamespace Acme\\Lib;\nclass Lib { const V = 3; }\n' >"$TMP/work/lib/src/Lib.php"
git -C "$TMP/work/lib" commit -qam three && git -C "$TMP/work/lib" tag v1.2.0 &&
    git -C "$TMP/work/lib" push -q origin main v1.2.0
expect_eq "a push for v1.2.0 is accepted by node 1" \
    "$(hook 1 acme/lib "$(git -C "$TMP/work/lib" rev-parse main)" lib-3)" 202
for i in 1 2 3 4; do
    wait_for serves "$i" /p2/acme/lib.json v1.2.0 && ok "with a bad row, node $i serves v1.2.0" ||
        not_ok "with a bad row, node $i does not serve v1.2.0"
done
expect_contains "the node that synced says which row it skipped" \
    "$(cat "$TMP"/node[123].log)" 'p2/acme/lib.json/x" cannot be written here'
expect_contains "node 4 caught up on its own disk" \
    "$(cat "$TMP/data4/composer/p2/acme/lib.json" 2>/dev/null)" v1.2.0

# 6. The database goes away: a node serves its copy where it is the cluster's version, and
# 503 where its file is not one the cluster had (as a sync here that could not publish
# leaves it).
printf 'not published' >"$TMP/data2/composer/p2/acme/seed.json.new" &&
    mv "$TMP/data2/composer/p2/acme/seed.json.new" "$TMP/data2/composer/p2/acme/seed.json"
"$CM_SRCDIR/tests/pg_server.sh" kill "$PG_DIR"
expect_contains "without the database, node 2 still serves its copy of the cluster's p2 file" \
    "$(curl -s "http://127.0.0.1:${NODE_PORT[2]}/p2/acme/lib.json")" v1.2.0
expect_eq "and answers 503 for a file of its own the cluster never had" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${NODE_PORT[2]}/p2/acme/seed.json")" 503
"$CM_SRCDIR/tests/pg_server.sh" restart "$PG_DIR" >/dev/null
expect_contains "with the database back, the cluster's version is served again" \
    "$(curl -s "http://127.0.0.1:${NODE_PORT[2]}/p2/acme/seed.json")" v0.1.0

stop_nodes
finish
