#!/usr/bin/env bash
# Hostile part: who may publish which Composer package, and files too big to zip. Two endpoints
# fetch from one `git daemon` on loopback: signed-ep checks signatures, open-ep has no secret,
# so anyone who reaches open-ep can make the gateway mirror any repository of that host.
# Nothing synced through open-ep may replace or pre-empt what signed-ep publishes.
. "$(dirname "$0")/../lib.sh"
need curl python3 git

install_gateway
start_git_daemon
PORT=$(free_port)
API="http://127.0.0.1:$PORT"

# write_conf [PACKAGES_SETTING]: the two endpoints, the composer sync entry, a small blob cap.
write_conf() {
    mkdir -p "$TMP/conf"
    cat >"$TMP/conf/10-composer.conf" <<CONF
server = { workers = 2; };
git = { max_blob_size = 100000; };
endpoints = (
  { name = "signed-ep"; provider = "github"; url = "https://github.com"; secret = "s3cret";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; },
  { name = "open-ep"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; }
);
sync = ( { plugin = "composer"; base_url = "$API"; ${1:-} } );
CONF
}

# pkg_repo PATH NAME WHO: repository PATH on the git daemon whose composer.json names NAME and
# whose src/Mark.php says WHO, tagged 1.0.0 and pushed.
pkg_repo() {
    local w="$TMP/work/$1"
    new_repo_at "$1" "$w"
    printf '{"name": "%s", "type": "library", "autoload": {"classmap": ["src/"]}}\n' "$2" \
        >"$w/composer.json"
    mkdir -p "$w/src" && printf '<?php class Mark { const WHO = "%s"; }\n' "$3" >"$w/src/Mark.php"
    git -C "$w" add -A && git -C "$w" commit -qm one && git -C "$w" tag 1.0.0
    git -C "$w" push -q origin main 1.0.0
}
rev() { git -C "$TMP/git/$1.git" rev-parse "$2^{commit}"; }

# hook ENDPOINT REPOSITORY TAG [SECRET]: GitHub's push event for a new tag; prints "CODE BODY".
hook() {
    python3 - "$2" "refs/tags/$3" "$(rev "$2" "$3")" >"$TMP/hook.json" <<'PY'
import json, sys
repo, ref, new = sys.argv[1:4]
print(json.dumps({"ref": ref, "before": "0" * 40, "after": new, "created": True,
  "deleted": False, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "repository": {"id": 7, "full_name": repo,
  "clone_url": "https://github.com/%s.git" % repo, "ssh_url": "git@github.com:%s.git" % repo,
  "html_url": "https://github.com/" + repo}}))
PY
    local sig=()
    [ -n "${4:-}" ] && sig=(-H "X-Hub-Signature-256: $("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s "$4" \
        "$TMP/hook.json" | sed -n 's/^X-Hub-Signature-256: //p')")
    post "$1" "$TMP/hook.json" -H "X-GitHub-Event: push" \
        -H "X-GitHub-Delivery: hostile-$(date +%s%N)" "${sig[@]}"
}

# repo_field ENDPOINT REPOSITORY EXPR: a Python expression over r, the entry of GET
# /api/repositories ("" when the repository is not listed yet).
repo_field() {
    curl -s "$API/api/repositories" | python3 -c '
import json, sys
ep, repo, expr = sys.argv[1:4]
for r in json.load(sys.stdin)["repositories"]:
    if r["endpoint"] == ep and r["repository"] == repo:
        v = eval(expr)
        print("" if v is None else v)' "$1" "$2" "$3"
}
note() { repo_field "$1" "$2" "(r.get('notes') or {}).get('$3', '')"; }
note_has() { note "$1" "$2" "$3" | grep -qF -- "$4"; }

# p2_ref NAME VERSION: the commit a published version comes from ("" when not published).
p2_ref() {
    curl -sf "$API/p2/$1.json" | python3 -c '
import json, sys
name, want = sys.argv[1:3]
cur = {}
for v in json.load(sys.stdin)["packages"].get(name, []):
    for k, x in v.items():
        if x == "__unset":
            cur.pop(k, None)
        else:
            cur[k] = x
    if cur.get("version") == want:
        print(cur["source"]["reference"])' "$1" "$2" 2>/dev/null
}
p2_is() { [ "$(p2_ref "$1" "$2")" = "$3" ]; }
check_wait() { # WHAT CMD...: ok when CMD succeeds within 30 s
    local what=$1
    shift
    if wait_for "$@"; then ok "$what"; else not_ok "$what"; fi
}

# ---- ownership alone: the first publisher keeps its name ----------------------------------
write_conf
start_gateway "$TMP/conf" "$TMP/data"
pkg_repo acme/lib acme/lib SIGNED
pkg_repo evil/lib acme/lib EVIL
SIGNED_REV=$(rev acme/lib 1.0.0)

r=$(hook signed-ep acme/lib 1.0.0 s3cret)
expect_eq "signed push of acme/lib is queued" "${r%% *}" 202
check_wait "acme/lib 1.0.0 is published from signed-ep" p2_is acme/lib 1.0.0 "$SIGNED_REV"

r=$(hook signed-ep evil/lib 1.0.0)
expect_eq "an unsigned delivery to signed-ep is 401" "${r%% *}" 401

r=$(hook open-ep evil/lib 1.0.0)
expect_eq "unsigned push to open-ep is queued" "${r%% *}" 202
check_wait "open-ep's copy claiming acme/lib gets a note naming the owner" \
    note_has open-ep evil/lib refs/tags/1.0.0 "already published from signed-ep:acme/lib"
expect_eq "acme/lib still comes from signed-ep" "$(p2_ref acme/lib 1.0.0)" "$SIGNED_REV"
expect_eq "the refusal is not a failed sync (not retried)" \
    "$(repo_field open-ep evil/lib "r['last_error']")" ""

# The very same repository through the open endpoint is another owner: refused too.
r=$(hook open-ep acme/lib 1.0.0)
check_wait "the same repository through open-ep is refused" \
    note_has open-ep acme/lib refs/tags/1.0.0 "already published from signed-ep:acme/lib"

if command -v composer >/dev/null 2>&1; then
    P="$TMP/project"
    mkdir -p "$P"
    cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "$API"}, {"packagist.org": false}],
 "require": {"acme/lib": "^1.0"}, "config": {"secure-http": false}}
JSON
    export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache"
    export COMPOSER_ALLOW_SUPERUSER=1
    (cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer1.log" 2>&1)
    expect_contains "composer installs signed-ep's acme/lib" \
        "$(cat "$P/vendor/acme/lib/src/Mark.php" 2>/dev/null)" 'WHO = "SIGNED"'
else
    echo "SKIP: composer is not installed: the composer client checks did not run"
fi

# ---- packages = [ "signed-ep:acme/*" ], loaded by SIGHUP ----------------------------------
write_conf 'packages = [ "signed-ep:acme/*" ];'
kill -HUP "$GW_PID"
check_wait "SIGHUP loads the packages patterns" \
    grep -q "SIGHUP: configuration reloaded" "$TMP/gateway.log"
pkg_repo evil/other acme/other EVIL
r=$(hook open-ep evil/other 1.0.0)
expect_eq "unsigned push claiming acme/other is queued" "${r%% *}" 202
check_wait "acme/other, never published, is still refused to open-ep" \
    note_has open-ep evil/other refs/tags/1.0.0 \
    'reserved for endpoint signed-ep by the packages pattern "signed-ep:acme/*"'
expect_contains "the note says which key to change" \
    "$(note open-ep evil/other refs/tags/1.0.0)" "change packages in the composer sync entry"
r=$(curl -s -o /dev/null -w '%{http_code}' "$API/p2/acme/other.json")
expect_eq "acme/other is not published" "$r" 404
expect_eq "the refusal is logged once" \
    "$(grep -c 'open-ep:evil/other: package acme/other is reserved' "$TMP/gateway.log")" 1
expect_eq "and not retried" "$(repo_field open-ep evil/other "r['last_error']")" ""

pkg_repo evil/ok evil/ok EVIL
OK_REV=$(rev evil/ok 1.0.0)
hook open-ep evil/ok 1.0.0 >/dev/null
check_wait "open-ep still publishes names nobody reserved" p2_is evil/ok 1.0.0 "$OK_REV"

if command -v composer >/dev/null 2>&1; then
    (cd "$P" && composer require --no-interaction --no-progress acme/other:^1.0 \
        >"$TMP/composer2.log" 2>&1)
    expect_eq "composer cannot install acme/other" "$?" 2
fi

# ---- a malformed pattern stops the configuration --------------------------------------------
mkdir -p "$TMP/conf-bad"
sed 's|packages = \[ "signed-ep:acme/\*" \];|packages = [ "ACME/*" ];|' \
    "$TMP/conf/10-composer.conf" >"$TMP/conf-bad/10-composer.conf"
out=$("$INST_BIN" check -c "$TMP/conf-bad" -P "$INST_PLUGINS" 2>&1)
expect_eq "cargoman check refuses a malformed pattern" "$?" 1
expect_contains "naming the pattern" "$out" 'packages: "ACME/*" is not a package pattern'
expect_contains "and the entry" "$out" "10-composer.conf:"

# ---- a file over git.max_blob_size: that version is skipped, the others published ----------
W="$TMP/work/acme/big"
new_repo_at acme/big "$W"
echo '{"name": "acme/big"}' >"$W/composer.json"
mkdir -p "$W/data" && head -c 200000 /dev/urandom >"$W/data/big.bin"
git -C "$W" add -A && git -C "$W" commit -qm big && git -C "$W" tag 1.0.0
git -C "$W" rm -q data/big.bin && git -C "$W" commit -qm small && git -C "$W" tag 1.1.0
git -C "$W" push -q origin main 1.0.0 1.1.0
hook signed-ep acme/big 1.0.0 s3cret >/dev/null
hook signed-ep acme/big 1.1.0 s3cret >/dev/null
check_wait "acme/big 1.1.0 is published" p2_is acme/big 1.1.0 "$(rev acme/big 1.1.0)"
check_wait "1.0.0 carries the host's note" note_has signed-ep acme/big refs/tags/1.0.0 \
    "dist archive skipped: data/big.bin is 200000 bytes, over git.max_blob_size (100000)"
expect_eq "acme/big 1.0.0 is not published" "$(p2_ref acme/big 1.0.0)" ""
expect_eq "the oversize version is not a failed sync" \
    "$(repo_field signed-ep acme/big "r['last_error']")" ""
curl -sf -o "$TMP/big.zip" "$API/dist/acme/big/$(rev acme/big 1.1.0).zip"
expect_contains "1.1.0's dist zip is served" "$(python3 -c 'import sys, zipfile
print(zipfile.ZipFile(sys.argv[1]).namelist())' "$TMP/big.zip" 2>&1)" "composer.json"

stop_gateway
[ "$FAIL" -eq 0 ] || tail -n 40 "$TMP/gateway.log"
finish
