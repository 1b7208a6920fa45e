#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 at random points inside real work, again and again: during fetches, during the
# spool's journal compaction and during a Composer publish. After each restart every
# acknowledged (202) push must sync and the Composer index must be consistent, as the real
# composer client sees it. A killer watches the data directory for the files that work
# writes (crash.py), so the kill lands inside it; when it sees none in time it kills anyway.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer unzip
KIT="$CM_SRCDIR/tests/integration/crash.py"
ITER=${CM_CRASH_ITER:-8}

install_gateway
start_git_daemon

# commit DIR: one more commit whose new file weighs 256 KiB, so each fetch takes a while.
commit() {
    head -c 262144 /dev/urandom >"$1/blob"
    git -C "$1" add blob && git -C "$1" commit -qm "c $(date +%s%N)"
}
mirror_head() { git --git-dir="$DATA/mirrors/dc/$1.git" rev-parse refs/heads/main 2>/dev/null; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
# restart: the daemon was killed; start it again on the same data.
restart() {
    wait "$GW_PID" 2>/dev/null
    GW_PID=
    start_gateway "$CONF" "$DATA"
}
# every_ack_synced FILE: each "REPO COMMIT" line of FILE has its mirror's main at COMMIT.
every_ack_synced() {
    local repo commit
    while read -r repo commit; do
        [ -n "$repo" ] || continue
        [ "$(mirror_head "$repo")" = "$commit" ] || return 1
    done <"$1"
}

# --- 1. fetches and compaction --------------------------------------------------------------
CONF=$TMP/conf DATA=$TMP/data
mkdir -p "$CONF"
cat >"$CONF/00-server.conf" <<CONF
server = { workers = 2; };
CONF
cat >"$CONF/10-endpoint.conf" <<CONF
endpoint = { name = "dc"; provider = "bitbucket-datacenter"; url = "https://bitbucket.example.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
REPOS="ACME/k1 ACME/k2 ACME/k3 ACME/k4 ACME/k5 ACME/k6"
for r in $REPOS; do
    new_repo_at "$r" "$TMP/work/$r"
done
start_gateway "$CONF" "$DATA"

inside_compaction=0
inside_fetch=0
acked=0
for i in $(seq 1 "$ITER"); do
    heads=
    for r in $REPOS; do
        commit "$TMP/work/$r"
        git -C "$TMP/work/$r" push -q origin main
        heads="$heads $r=$(git -C "$TMP/work/$r" rev-parse main)"
    done
    # Odd rounds kill inside a compaction, even ones inside a fetch; 80 deliveries of some 150 KB
    # each pass the compaction mark (1 MiB, or 4 times what the last compaction wrote) more than once.
    mode=compaction
    [ $((i % 2)) = 0 ] && mode=fetch
    # shellcheck disable=SC2086
    python3 "$KIT" burst "$PORT" dc "r$i" 80 500 $heads >"$TMP/acked.$i" &
    poster=$!
    # Inside the first or second compaction of the round; inside a fetch after a random delay.
    if [ $mode = compaction ]; then
        how=$(python3 "$KIT" kill "$GW_PID" "$mode" "$DATA" 10 $((RANDOM % 2 + 1)))
    else
        how=$(python3 "$KIT" kill "$GW_PID" "$mode" "$DATA" "0.$((RANDOM % 9 + 1))5" 1)
    fi
    [ "$how" = inside ] && eval "inside_$mode=\$((inside_$mode + 1))"
    [ "$how" = died ] && { not_ok "round $i: the daemon died before the kill"; tail -n 20 "$TMP/gateway.log"; }
    wait "$poster"
    acked=$((acked + $(grep -c . "$TMP/acked.$i")))
    restart
    if wait_until 60 every_ack_synced "$TMP/acked.$i"; then
        ok "round $i: killed in $mode ($how), every acknowledged push synced after restart"
    else
        not_ok "round $i: killed in $mode ($how), an acknowledged push was lost"
    fi
done
expect_eq "some webhooks were acknowledged before the kills" "$([ "$acked" -gt 0 ] && echo yes)" yes
echo "# $acked webhooks acknowledged; kills inside: $inside_compaction compactions, $inside_fetch fetches"
# The watcher sees a compaction's journal.new unless the burst ends first; a fetch's files
# unless the random delay ends first.
if [ "$inside_compaction" -ge $((ITER / 2 - 1)) ] && [ "$inside_fetch" -ge $((ITER / 4)) ]; then
    ok "the kills landed inside compactions and fetches"
else
    not_ok "too few kills landed inside the work"
fi
# After the restarts the spool drains: nothing acknowledged stays pending for ever.
drained() { [ "$(metric cargoman_spool_depth)" = 0 ]; }
if wait_until 60 drained; then ok "spool drained"; else not_ok "spool depth $(metric cargoman_spool_depth)"; fi
stop_gateway

# --- 2. Composer publish --------------------------------------------------------------------
# Two packages gain 20 tags a round; each round's deliveries make 40 zips, two p2 files and
# packages.json, and the kill lands after a random number of those files.
CONF=$TMP/conf2 DATA=$TMP/data2
PORT=$(free_port)
mkdir -p "$CONF"
cp "$TMP/conf/00-server.conf" "$CONF/"
cat >"$CONF/10-endpoint.conf" <<CONF
endpoint = { name = "dc"; provider = "bitbucket-datacenter"; url = "https://bitbucket.example.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$PORT"; } );
CONF
PKGS="pkga pkgb"
for p in $PKGS; do
    W="$TMP/work/ACME/$p"
    new_repo_at "ACME/$p" "$W"
    printf '{"name": "acme/%s", "type": "library", "license": "MIT"}\n' "$p" >"$W/composer.json"
    git -C "$W" add composer.json && git -C "$W" commit -qm init && git -C "$W" push -q origin main
done
start_gateway "$CONF" "$DATA"
BASE="http://127.0.0.1:$PORT"
: >"$TMP/want"
inside=0
for i in $(seq 1 "$((ITER / 2 + 1))"); do
    for p in $PKGS; do
        W="$TMP/work/ACME/$p"
        refs=
        for n in $(seq 1 20); do
            echo "$i.$n" >"$W/v"
            git -C "$W" add v && git -C "$W" commit -qm "$i.$n" && git -C "$W" tag "v1.$i.$n"
            refs="$refs refs/tags/v1.$i.$n=$(git -C "$W" rev-parse HEAD)"
        done
        git -C "$W" push -q origin --tags
        echo "$p $refs" >"$TMP/refs.$p"
    done
    python3 "$KIT" kill "$GW_PID" publish "$DATA" 4 "$((RANDOM % 40 + 1))" >"$TMP/how" &
    killer=$!
    for p in $PKGS; do
        read -r _ refs <"$TMP/refs.$p"
        # shellcheck disable=SC2086
        if [ "$(python3 "$KIT" tags "$PORT" dc "ACME/$p" "c$i-$p" $refs)" = 202 ]; then
            for n in $(seq 1 20); do echo "acme/$p=v1.$i.$n" >>"$TMP/want"; done
        fi
    done
    wait "$killer"
    how=$(cat "$TMP/how")
    [ "$how" = inside ] && inside=$((inside + 1))
    [ "$how" = died ] && { not_ok "publish round $i: the daemon died before the kill"; tail -n 20 "$TMP/gateway.log"; }
    restart
    # Consistent the moment it is back, before any retry has run: never a half-written index.
    r=$(python3 "$KIT" check "$BASE" "$DATA/composer" 0)
    expect_eq "publish round $i: killed ($how), index consistent at restart" "$r" ""
    # shellcheck disable=SC2046
    complete() { [ -z "$(python3 "$KIT" check "$BASE" "$DATA/composer" 1 $(cat "$TMP/want"))" ]; }
    if wait_until 60 complete; then
        ok "publish round $i: every acknowledged tag published, packages.json exactly the p2 files"
    else
        # shellcheck disable=SC2046
        not_ok "publish round $i: $(python3 "$KIT" check "$BASE" "$DATA/composer" 1 $(cat "$TMP/want") | head -n 3)"
    fi
done
echo "# $(grep -c . "$TMP/want") tags acknowledged; $inside kills landed inside a publish"
if [ "$inside" -ge 1 ]; then ok "kills landed inside a publish"; else not_ok "no kill landed inside a publish"; fi

# The real composer client reads the whole index.
P="$TMP/project"
mkdir -p "$P"
cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "$BASE"}, {"packagist.org": false}],
 "config": {"secure-http": false}}
JSON
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
last=$(tail -n 1 "$TMP/want")
(cd "$P" && composer show -a --no-interaction "${last%%=*}" >"$TMP/composer.log" 2>&1)
expect_eq "composer show -a works" "$?" 0
expect_contains "and lists the last acknowledged version" "$(cat "$TMP/composer.log")" "${last#*=}"
stop_gateway
finish
