#!/usr/bin/env bash
# Issue 13's upgrade story with the installed daemon: `make install` twice into one prefix
# keeps the operator's edit (the new shipped file lands beside it as NAME.dist, which check
# names) and does not bring back a file the operator removed; a site file refines the shipped
# endpoints by name (clone_url for one, which is then fetched from, enabled = false for
# another, which answers 404) and check shows which file set each key; one key set twice in
# one file is an error naming both lines.
. "$(dirname "$0")/lib.sh"
need curl python3 git cmp

install_gateway
CONF=$(dirname "$(find "$TMP/inst" -path '*/conf.d/00-server.conf' | head -n1)")
SHIPPED=$(dirname "$(find "$TMP/inst" -path '*/share/cargoman/conf.d/00-server.conf' | head -n1)")
check() { "$INST_BIN" check -c "$CONF" -P "$INST_PLUGINS" 2>&1; }

# 1. The operator edits one file and removes another; the upgrade keeps both choices.
sed -i 's/^    workers = 4;/    workers = 3;/' "$CONF/00-server.conf"
rm "$CONF/40-gitlab.conf"
make -s -C "$CM_BUILDDIR" install DESTDIR="$TMP/inst" >"$TMP/install2.log" 2>&1 ||
    { cat "$TMP/install2.log"; exit 1; }
expect_contains "the edit survives the reinstall" "$(grep -c 'workers = 3;' "$CONF/00-server.conf")" 1
cmp -s "$CM_SRCDIR/conf.d/00-server.conf" "$CONF/00-server.conf.dist" &&
    ok "the shipped file is installed beside it as 00-server.conf.dist" ||
    not_ok "no 00-server.conf.dist holding the shipped file"
[ ! -e "$CONF/40-gitlab.conf" ] && ok "a removed file is not brought back" ||
    not_ok "40-gitlab.conf came back"
expect_eq "only the changed file has a .dist" "$(cd "$CONF" && ls ./*.dist)" "./00-server.conf.dist"
expect_contains "install says what it kept" "$(cat "$TMP/install2.log")" \
    "conf.d/00-server.conf: yours is kept"
cmp -s "$CM_SRCDIR/conf.d/40-gitlab.conf" "$SHIPPED/40-gitlab.conf" &&
    ok "the shipped files are kept for comparison" || not_ok "no shipped copy in $SHIPPED"
out=$(check)
expect_contains "check names the .dist and how to merge it" "$out" \
    "$CONF/00-server.conf.dist is the newer shipped 00-server.conf, never loaded: compare and merge (diff -u $CONF/00-server.conf $CONF/00-server.conf.dist)"
expect_contains "the .dist is not loaded (workers 3 is)" "$out" "configuration $CONF is valid"

# 2. A site file refines the shipped github endpoint's clone_url and switches
#    bitbucket-datacenter off: only the keys it sets change.
start_git_daemon
new_repo_at acme/site "$TMP/work"
echo '{"name": "acme/site"}' >"$TMP/work/composer.json"
git -C "$TMP/work" add composer.json && git -C "$TMP/work" commit -qm one
git -C "$TMP/work" push -q origin main 2>/dev/null
cat >"$CONF/50-site.conf" <<SITE
# This site's changes to the shipped endpoints.
endpoints = (
    { name = "github";
      clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; },
    { name = "bitbucket-datacenter"; enabled = false; }
);
SITE
out=$(check)
expect_contains "check shows the site file set clone_url" "$out" \
    "keys from $CONF/50-site.conf: clone_url:4"
# line KEY: where the shipped 30-github.conf sets KEY.
line() { grep -n "^    $1 = " "$CONF/30-github.conf" | cut -d: -f1; }
expect_contains "and the shipped file the rest" "$out" \
    "keys from $CONF/30-github.conf: name:$(line name) provider:$(line provider) url:$(line url) secret:$(line secret)"
expect_contains "check says the endpoint is disabled and where" "$out" \
    "disabled endpoint \"bitbucket-datacenter\": enabled = false at $CONF/50-site.conf:5"
start_gateway "$CONF" "$TMP/data"
new=$(git -C "$TMP/work" rev-parse main)
github_push acme/site "$new" >"$TMP/push.json"
resp=$(post github "$TMP/push.json" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: d-1')
expect_contains "the refined endpoint accepts the push" "$resp" "202"
mirrored() { [ "$(git --git-dir="$TMP/data/mirrors/github/acme/site.git" rev-parse refs/heads/main 2>/dev/null)" = "$new" ]; }
wait_for mirrored && ok "fetched from the site's clone_url" || not_ok "not fetched from the site's clone_url"
resp=$(post bitbucket-datacenter "$TMP/push.json")
expect_eq "a disabled endpoint answers 404" "${resp%% *}" 404
resp=$(post no-such-endpoint "$TMP/push.json")
expect_eq "as an unknown one does" "${resp%% *}" 404
stop_gateway

# 3. One key twice in one file is an error naming both lines; a later file may change it.
cat >"$CONF/51-twice.conf" <<SITE
endpoints = ( { name = "github"; clone_url = "git://127.0.0.1:1/{repository}.git"; },
              { name = "github";
                clone_url = "git://127.0.0.1:2/{repository}.git"; } );
SITE
out=$(check)
expect_contains "the same key twice in one file names both lines" "$out" \
    "$CONF/51-twice.conf:3: endpoint \"github\": clone_url is already set at $CONF/51-twice.conf:1, in the same file"
rm "$CONF/51-twice.conf"
cat >"$CONF/60-other.conf" <<SITE
endpoint = { name = "github"; provider = "gitlab"; };
SITE
expect_contains "a refinement may not change the provider" "$(check)" \
    "provider \"gitlab\" differs from \"github\" set at $CONF/30-github.conf:$(line provider)"
rm "$CONF/60-other.conf"
# A later file that empties the shipped secret is named by the warning, not the shipped file.
cat >"$CONF/61-nosecret.conf" <<SITE
endpoint = { name = "github";
             secret = ""; };
SITE
expect_contains "an emptied secret's warning names the file and line that emptied it" \
    "$(GITHUB_WEBHOOK_SECRET=shipped-secret-value check)" \
    "endpoint \"github\" has no secret: unsigned deliveries are accepted; set secret in $CONF/61-nosecret.conf (the secret set at $CONF/61-nosecret.conf:2 is empty)"
rm "$CONF/61-nosecret.conf"

# 4. Uninstall removes only what is as shipped: the operator's edit and site file stay.
make -s -C "$CM_BUILDDIR" uninstall DESTDIR="$TMP/inst" >"$TMP/uninstall.log" 2>&1
expect_eq "uninstall keeps the changed and the site's files" "$(cd "$CONF" && ls)" \
    "$(printf '00-server.conf\n50-site.conf')"
finish
