#!/usr/bin/env bash
# One state directory per plugin instance, and an upgrade from the per-name layout: a gateway
# whose one composer entry published into data_dir/composer gains a second composer entry.
# The first keeps data_dir/composer (its index is served at once, nothing is rebuilt); the
# second gets data_dir/composer@<name> and publishes there with its own base_url.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon
W="$TMP/work/foo"
new_repo_at acme/foo "$W"
echo '{"name": "acme/foo", "description": "t", "license": "MIT"}' >"$W/composer.json"
git -C "$W" add -A && git -C "$W" commit -qm one && git -C "$W" tag v1.0.0
git -C "$W" push -q origin main v1.0.0

# hook TAG: a GitHub delivery creating refs/tags/TAG of acme/foo.
hook() {
    github_push acme/foo "$(git -C "$W" rev-parse "$1")" |
        sed "s|refs/heads/main|refs/tags/$1|" >"$TMP/hook.json"
    post github "$TMP/hook.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: it-$1-$2"
}
# has FILE TEXT
has() { grep -q "$2" "$1" 2>/dev/null; }

start_composer_gateway github github https://github.com
r=$(hook v1.0.0 a)
expect_eq "v1.0.0 queued" "${r%% *}" 202
P2=$TMP/data/composer/p2/acme/foo.json
if wait_for has "$P2" '"v1.0.0"'; then ok "published into the per-name directory"; else
    not_ok "v1.0.0 not published"; cat "$TMP/gateway.log"; fi
stop_gateway
before=$(stat -c %i:%Y "$P2")

# The upgrade: a second composer entry, named; the first stays as it was.
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$PORT"; },
         { plugin = "composer"; name = "mirror"; base_url = "https://mirror.example";
           routes = false; } );
CONF
"$INST_BIN" check -c "$TMP/conf" -P "$INST_PLUGINS" >"$TMP/check.log" 2>&1
expect_eq "check accepts two named composer entries, one serving no routes" "$?" 0
start_gateway "$TMP/conf" "$TMP/data"
served=$(curl -s "http://127.0.0.1:$PORT/packages.json")
expect_contains "the first instance serves its old index at once" "$served" '"acme/foo"'
expect_eq "its p2 file was not rewritten" "$(stat -c %i:%Y "$P2")" "$before"
M=$TMP/data/composer@mirror
if wait_for test -f "$M/packages.json"; then ok "the second instance has its own directory"; else
    not_ok "no $M/packages.json"; ls -la "$TMP/data"; fi
expect_eq "and starts empty" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["available-packages"])' "$M/packages.json")" "[]"

echo '{"name": "acme/foo", "description": "t2", "license": "MIT"}' >"$W/composer.json"
git -C "$W" commit -qam two && git -C "$W" tag v1.1.0 && git -C "$W" push -q origin main v1.1.0
r=$(hook v1.1.0 b)
expect_eq "v1.1.0 queued" "${r%% *}" 202
if wait_for has "$P2" '"v1.1.0"'; then ok "the first instance publishes v1.1.0"; else not_ok "first: no v1.1.0"; fi
if wait_for has "$M/p2/acme/foo.json" '"v1.1.0"'; then ok "the second instance publishes v1.1.0"; else
    not_ok "second: no v1.1.0"; cat "$TMP/gateway.log"; fi
expect_contains "the second one knows v1.0.0 too (read from the mirror)" "$(cat "$M/p2/acme/foo.json")" '"v1.0.0"'
expect_contains "with its own base_url" "$(cat "$M/p2/acme/foo.json")" "https://mirror.example/dist/acme/foo/"
expect_contains "the first keeps its own" "$(cat "$P2")" "http://127.0.0.1:$PORT/dist/acme/foo/"
[ -d "$TMP/data/composer/repos" ] && [ -d "$M/repos" ] && ok "each has its own state files" ||
    not_ok "state files shared"
stop_gateway
finish
