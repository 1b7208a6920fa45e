#!/usr/bin/env bash
# Rebuild without the hosts (issue 13): the mirrors are caches, the Composer state is made from
# them. Publish two packages, stop, lose data_dir/composer/, stop the git server, start: the
# gateway rebuilds the repository from the mirrors on disk without contacting any host, and
# packages.json and every p2 file are byte for byte what they were (dist shasums included);
# composer installs from it, its zips made from the mirrors. A later start rebuilds nothing.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer unzip

install_gateway
start_git_daemon
# pkg PATH NAME: a repository with two tags and a main branch past them, pushed.
pkg() {
    local w="$TMP/work/$1"
    new_repo_at "$1" "$w"
    cat >"$w/composer.json" <<JSON
{"name": "$2", "description": "$1", "type": "library", "license": "MIT",
 "autoload": {"psr-4": {"Acme\\\\$3\\\\": "src/"}}}
JSON
    mkdir -p "$w/src"
    for v in 1 2 3; do
        echo "<?php namespace Acme\\$3; class $3 { const V = $v; }" >"$w/src/$3.php"
        git -C "$w" add -A && git -C "$w" commit -qm "v$v"
        [ "$v" -lt 3 ] && git -C "$w" tag "v1.$v.0"
    done
    git -C "$w" push -q origin main v1.1.0 v1.2.0
}
pkg acme/foo acme/foo Foo
pkg acme/bar acme/bar Bar

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; };
CONF
start_composer_gateway github github https://github.com
U="http://127.0.0.1:$PORT"
for r in acme/foo acme/bar; do
    github_push "$r" "$(git -C "$TMP/work/$r" rev-parse main)" >"$TMP/push.json"
    r=$(post github "$TMP/push.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: rb-$RANDOM")
    expect_eq "push queued" "${r%% *}" 202
done
published() { curl -sf "$U/p2/acme/$1.json" | grep -q '"v1.2.0"' && curl -sf "$U/p2/acme/$1~dev.json" | grep -q dev-main; }
for p in foo bar; do
    if wait_for published $p; then ok "acme/$p published"; else not_ok "acme/$p not published"; fi
done
# Every file composer reads, and the zips' shasums the p2 files promise.
snapshot() {
    (cd "$TMP/data/composer" && find packages.json p2 -type f | sort | xargs sha256sum)
}
snapshot >"$TMP/before.sums"
expect_eq "five files to compare" "$(wc -l <"$TMP/before.sums")" 5
stop_gateway

# --- the Composer state is lost, and no host can be reached ------------------------------------
rm -rf "$TMP/data/composer"
kill "$(cat "$TMP/gitd.pid")" && rm -f "$TMP/gitd.pid"
wait_until 10 sh -c "! git ls-remote git://127.0.0.1:$GIT_PORT/acme/foo.git" ||
    not_ok "the git daemon still answers"
start_gateway "$TMP/conf" "$TMP/data"
expect_contains "the start says it rebuilds" "$(cat "$TMP/gateway.log")" \
    "its state directory is missing: rebuilding it from 2 mirror(s) on disk"
expect_contains "and that it did" "$(cat "$TMP/gateway.log")" "rebuilt from 2 mirror(s); 0 failed"
snapshot >"$TMP/after.sums"
if cmp -s "$TMP/before.sums" "$TMP/after.sums"; then
    ok "packages.json and the p2 files are byte-identical"
else
    not_ok "the rebuilt files differ"
    diff "$TMP/before.sums" "$TMP/after.sums"
fi
if [ -e "$TMP/data/rebuild/composer" ]; then not_ok "the rebuild's marker is left"; else ok "no marker is left"; fi

# composer installs from the rebuilt repository; the zips come from the mirrors.
P="$TMP/project"
mkdir -p "$P"
cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "$U"}, {"packagist.org": false}],
 "require": {"acme/foo": "^1.0", "acme/bar": "dev-main"}, "config": {"secure-http": false},
 "minimum-stability": "dev", "prefer-stable": true}
JSON
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
(cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer.log" 2>&1)
expect_contains "composer installs acme/foo v1.2.0" "$(cat "$P/vendor/acme/foo/src/Foo.php" 2>/dev/null)" "V = 2"
expect_contains "and acme/bar dev-main" "$(cat "$P/vendor/acme/bar/src/Bar.php" 2>/dev/null)" "V = 3"
grep -q "git ls-remote\|Cloning\|Failed to download" "$TMP/composer.log" &&
    not_ok "composer went to git: $(cat "$TMP/composer.log")"
stop_gateway

# --- a later start finds the state whole: nothing is rebuilt -----------------------------------
start_gateway "$TMP/conf" "$TMP/data"
expect_eq "one rebuild in the log" "$(grep -c 'rebuilding it from' "$TMP/gateway.log")" 1
stop_gateway
[ "$FAIL" -eq 0 ] || { tail -n 30 "$TMP/composer.log" "$TMP/gateway.log"; }
finish
