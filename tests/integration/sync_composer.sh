#!/usr/bin/env bash
# End to end: a package repository on a `git daemon` on loopback, webhooks to the installed
# gateway, and the real composer client installing from the gateway's Composer repository.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer unzip

install_gateway
start_git_daemon
W="$TMP/work/foo"
new_repo_at acme/foo "$W"
foo_package "$W"

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; };
CONF
start_composer_gateway github github https://github.com 'tokens = [ "ci:t0ken" ];'

# hook REF OLD NEW: a GitHub push delivery for acme/foo.
hook() {

    python3 - "$1" "$2" "$3" >"$TMP/hook.json" <<'PY'
import json, sys
ref, old, new = sys.argv[1:4]
z = "0" * 40
print(json.dumps({"ref": ref, "before": old or z, "after": new or z, "created": not old,
  "deleted": not new, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "repository": {"id": 1, "full_name": "acme/foo",
  "clone_url": "https://github.com/acme/foo.git", "ssh_url": "git@github.com:acme/foo.git",
  "html_url": "https://github.com/acme/foo"}}))
PY
    post github "$TMP/hook.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: it-$(date +%s%N)"
}
p2_has() { curl -sf -u ci:t0ken "http://127.0.0.1:$PORT/p2/acme/$1.json" | grep -q "\"$2\""; }

r=$(hook refs/tags/v1.0.0 "" "$(git -C "$W" rev-parse v1.0.0)")
expect_eq "tag webhook queued" "${r%% *}" 202
r=$(hook refs/tags/v1.1.0 "" "$(git -C "$W" rev-parse v1.1.0)")
if wait_for p2_has foo v1.1.0; then ok "v1.1.0 published"; else not_ok "v1.1.0 not published"; cat "$TMP/gateway.log"; fi

P="$TMP/project"
mkdir -p "$P"
cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "http://127.0.0.1:$PORT"}, {"packagist.org": false}],
 "require": {"acme/foo": "^1.0"}, "config": {"secure-http": false}, "minimum-stability": "stable"}
JSON
# The repository is closed (the sync entry's tokens): composer sends what auth.json's http-basic says.
cat >"$P/auth.json" <<JSON
{"http-basic": {"127.0.0.1:$PORT": {"username": "ci", "password": "t0ken"}}}
JSON
r=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/packages.json")
expect_eq "packages.json without credentials is 401" "$r" 401
r=$(curl -s -o /dev/null -w '%{http_code}' -u ci:wrong "http://127.0.0.1:$PORT/p2/acme/foo.json")
expect_eq "a wrong token is 401" "$r" 401
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
(cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer1.log" 2>&1)
expect_contains "composer installs v1.1.0" "$(cat "$P/vendor/acme/foo/src/Foo.php" 2>/dev/null)" "V = 2"
expect_contains "from the gateway's dist zip" "$(cat "$P/composer.lock" 2>/dev/null)" "http://127.0.0.1:$PORT/dist/acme/foo/"

echo '<?php namespace Acme\Foo; class Foo { const V = 3; }' >"$W/src/Foo.php"
git -C "$W" commit -qam three && git -C "$W" tag v1.2.0 && git -C "$W" push -q origin main v1.2.0
r=$(hook refs/tags/v1.2.0 "" "$(git -C "$W" rev-parse v1.2.0)")
expect_eq "v1.2.0 webhook queued" "${r%% *}" 202
if wait_for p2_has foo v1.2.0; then ok "v1.2.0 published after its webhook"; else not_ok "v1.2.0 not published"; fi
(cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer2.log" 2>&1)
expect_contains "composer installs v1.2.0" "$(cat "$P/vendor/acme/foo/src/Foo.php" 2>/dev/null)" "V = 3"

old=$(git -C "$W" rev-parse v1.2.0)
git -C "$W" push -q origin :refs/tags/v1.2.0 && git -C "$W" tag -d v1.2.0 >/dev/null
hook refs/tags/v1.2.0 "$old" "" >/dev/null
gone() { ! p2_has foo v1.2.0; }
if wait_for gone; then ok "deleted tag is gone"; else not_ok "deleted tag still published"; fi

hook refs/heads/main "$(git -C "$W" rev-parse v1.1.0)" "$(git -C "$W" rev-parse main)" >/dev/null
wait_for p2_has foo~dev dev-main || true
(cd "$P" && composer require --no-interaction --no-progress acme/foo:dev-main >"$TMP/composer3.log" 2>&1)
expect_contains "dev-main installs" "$(cat "$P/vendor/acme/foo/src/Foo.php" 2>/dev/null)" "V = 3"

r=$(curl -s "http://127.0.0.1:$PORT/api/repositories")
expect_contains "repositories API shows the mirror's main head" "$r" "$(git -C "$W" rev-parse main)"
stop_gateway
[ "$FAIL" -eq 0 ] || { tail -n 30 "$TMP"/composer*.log "$TMP/gateway.log"; }
finish
