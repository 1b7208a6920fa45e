#!/usr/bin/env bash
# A node that never synced a repository serves its dist zips (SDK 1.3 host->archive): the
# gateway restarted without its dist/ and the repository's mirror, as a cluster node that
# shares only the Composer state, makes each zip on request, fetching the commit first; the
# zip's sha1 is the p2 file's shasum, and the real composer installs from it. A commit the
# package does not publish costs no fetch; an unreachable git host is an error, not a hang.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer unzip sha1sum

install_gateway
# The git daemon runs this before each service: one line per fetch (upload-pack) it serves.
cat >"$TMP/access-hook" <<HOOK
#!/bin/sh
[ "\$1" = upload-pack ] && echo "\$2" >>"$TMP/fetches.log"
exit 0
HOOK
chmod +x "$TMP/access-hook"
: >"$TMP/fetches.log"
GIT_DAEMON_ARGS="--access-hook=$TMP/access-hook" start_git_daemon
fetches() { wc -l <"$TMP/fetches.log" | tr -d ' '; }

W="$TMP/work/foo"
new_repo_at acme/foo "$W"
echo '{"name": "acme/foo", "description": "unpublished draft"}' >"$W/composer.json"
git -C "$W" add -A && git -C "$W" commit -qm draft
DRAFT=$(git -C "$W" rev-parse HEAD)
# The draft stays in the repository's history, but the gateway publishes no version of it.
foo_package "$W"

start_composer_gateway github github https://github.com

hook() {
    python3 - "$1" "$2" >"$TMP/hook.json" <<'PY'
import json, sys
ref, new = sys.argv[1:3]
print(json.dumps({"ref": ref, "before": "0" * 40, "after": new, "created": True,
  "deleted": False, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "repository": {"id": 1, "full_name": "acme/foo",
  "clone_url": "https://github.com/acme/foo.git", "ssh_url": "git@github.com:acme/foo.git",
  "html_url": "https://github.com/acme/foo"}}))
PY
    post github "$TMP/hook.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: it-$(date +%s%N)"
}
p2_has() { curl -sf "http://127.0.0.1:$PORT/p2/acme/foo.json" | grep -q "\"$1\""; }
hook refs/tags/v1.0.0 "$(git -C "$W" rev-parse v1.0.0)" >/dev/null
r=$(hook refs/tags/v1.1.0 "$(git -C "$W" rev-parse v1.1.0)")
expect_eq "tag webhook queued" "${r%% *}" 202
if wait_for p2_has v1.1.0; then ok "v1.1.0 published"; else not_ok "v1.1.0 not published"; fi

# dist_of VERSION FIELD: the url or shasum of VERSION's dist in the p2 file (minified: each
# version lists what changed from the one before, and dist always does).
dist_of() {
    curl -sf "http://127.0.0.1:$PORT/p2/acme/foo.json" | python3 -c '
import json, sys
for v in json.load(sys.stdin)["packages"]["acme/foo"]:
    if v.get("version") == sys.argv[1]:
        print(v["dist"][sys.argv[2]])' "$1" "$2"
}
URL1=$(dist_of v1.0.0 url)
SHA1=$(dist_of v1.0.0 shasum)
expect_contains "p2 names the v1.0.0 zip" "$URL1" "/dist/acme/foo/$(git -C "$W" rev-parse v1.0.0).zip"

# What a node that never synced acme/foo has: the shared Composer state, no zips, no mirror.
stop_gateway
rm -rf "$TMP/data/composer/dist" "$TMP/data/mirrors/github/acme"
start_gateway "$TMP/conf" "$TMP/data"
before=$(fetches)
code=$(curl -s -o "$TMP/v1.zip" -w '%{http_code}' --max-time 120 "$URL1")
expect_eq "the zip this node never made is served" "$code" 200
expect_eq "its sha1 is the p2 file's shasum" "$(sha1sum <"$TMP/v1.zip" | cut -d' ' -f1)" "$SHA1"
unzip -p "$TMP/v1.zip" src/Foo.php >"$TMP/v1.php" 2>/dev/null
expect_contains "it holds v1.0.0" "$(cat "$TMP/v1.php")" "V = 1"
[ "$(fetches)" -gt "$before" ] && ok "the git daemon saw the fetch" || not_ok "no fetch reached the git daemon"
expect_contains "the fetch is logged with its reason" "$(cat "$TMP/gateway.log")" \
    "acme/foo: fetched for the dist zip of"

# The mirror now holds every commit: the next zip needs no network.
before=$(fetches)
P="$TMP/project"
mkdir -p "$P"
cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "http://127.0.0.1:$PORT"}, {"packagist.org": false}],
 "require": {"acme/foo": "^1.0"}, "config": {"secure-http": false}, "minimum-stability": "stable"}
JSON
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
(cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer.log" 2>&1)
expect_contains "composer installs v1.1.0 from a zip made on demand" \
    "$(cat "$P/vendor/acme/foo/src/Foo.php" 2>/dev/null)" "V = 2"
expect_eq "a mirror that has the commit is not fetched again" "$(fetches)" "$before"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 \
    "http://127.0.0.1:$PORT/dist/acme/foo/$DRAFT.zip")
expect_eq "a commit the package does not publish is 404" "$code" 404
expect_eq "and costs no fetch" "$(fetches)" "$before"
[ -e "$TMP/data/composer/dist/acme/foo/$DRAFT.zip" ] && not_ok "an unpublished zip was made" ||
    ok "no zip of the unpublished commit"

# The git host down and the mirror gone: a prompt error naming the reason, and the gateway
# keeps serving.
kill "$(cat "$TMP/gitd.pid")"
gone() { ! git ls-remote "$(git_url acme/foo)"; }
wait_for gone || not_ok "the git daemon did not stop"
rm -rf "$TMP/data/composer/dist" "$TMP/data/mirrors/github/acme"
code=$(curl -s -o "$TMP/err.json" -w '%{http_code}' --max-time 120 "$URL1")
expect_eq "a zip that needs an unreachable git host is 503" "$code" 503
expect_contains "with a reason" "$(cat "$TMP/err.json")" "cannot be reached now; retry later"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/packages.json")
expect_eq "the gateway keeps serving" "$code" 200
stop_gateway
[ "$FAIL" -eq 0 ] || tail -n 40 "$TMP/composer.log" "$TMP/gateway.log"
finish
