#!/usr/bin/env bash
# The sample payloads of docs/examples/, one push per provider, each signed and posted to the
# installed daemon by the command `cargoman sign --curl` prints, run as printed: 202 for each.
# And a Bitbucket Cloud delivery sent to a GitHub endpoint is told where it belongs, not to
# set legacy_sha1.
. "$(dirname "$0")/lib.sh"
need curl python3

install_gateway
EX=$(cd "$CM_SRCDIR/docs/examples" && pwd -P)
# Fetches go to a loopback port nobody listens on: intake's answer is what is tested here.
DEAD=$(free_port)
mkdir -p "$TMP/conf"
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "github"; provider = "github"; secret = "gh-s3cret";
    clone_url = "git://127.0.0.1:$DEAD/{repository}.git"; },
  { name = "gitlab"; provider = "gitlab"; secret = "it's a token";
    clone_url = "git://127.0.0.1:$DEAD/{repository}.git"; },
  { name = "bitbucket"; provider = "bitbucket-cloud"; secret = "bbc-s3cret";
    clone_url = "git://127.0.0.1:$DEAD/{repository}.git"; },
  { name = "dc"; provider = "bitbucket-datacenter"; url = "https://git.example.com";
    secret = "dc-s3cret"; clone_url = "git://127.0.0.1:$DEAD/{repository}.git"; }
);
CONF
start_gateway "$TMP/conf" "$TMP/data"

# send PROVIDER ENDPOINT SECRET FILE HEADER...: run the printed curl command; prints "BODY CODE".
send() {
    local p=$1 ep=$2 secret=$3 file=$4 cmd
    shift 4
    local hs=()
    for h in "$@"; do hs+=(-H "$h"); done
    cmd=$("$INST_BIN" sign -P "$INST_PLUGINS" -p "$p" -s "$secret" \
        --curl "http://127.0.0.1:$PORT/api/webhooks/$ep" "${hs[@]}" "$file") || return 1
    echo "$cmd" >>"$TMP/commands"
    (cd / && eval "$cmd -w ' %{http_code}'")
}

r=$(send github github gh-s3cret "$EX/github-push.json" 'X-GitHub-Event: push' \
    'X-GitHub-Delivery: 1b2c3d4e-0001')
expect_eq "docs/examples/github-push.json, signed and posted as printed: 202" "${r##* }" 202
r=$(send gitlab gitlab "it's a token" "$EX/gitlab-push.json" 'X-Gitlab-Event: Tag Push Hook')
expect_eq "docs/examples/gitlab-push.json (a token with a quote in it): 202" "${r##* }" 202
r=$(send bitbucket-cloud bitbucket bbc-s3cret "$EX/bitbucket-cloud-push.json" \
    'X-Event-Key: repo:push' 'X-Hook-UUID: 6f1d2c3b-4a59-4687-8766-5c0f1e2d3b4a')
expect_eq "docs/examples/bitbucket-cloud-push.json: 202" "${r##* }" 202
r=$(send bitbucket-datacenter dc dc-s3cret "$EX/bitbucket-datacenter-push.json" \
    'X-Event-Key: repo:refs_changed' 'X-Request-Id: 7f3e9a10-0001')
expect_eq "docs/examples/bitbucket-datacenter-push.json: 202" "${r##* }" 202
expect_contains "the command posts the file itself" "$(head -n1 "$TMP/commands")" \
    "--data-binary '@$EX/github-push.json'"
case $(cat "$TMP/commands") in
*"'Content-Type: application/json'"*) ok "the command sets the JSON content type" ;;
*) not_ok "no Content-Type in $(cat "$TMP/commands")" ;;
esac
logs=$(curl -s "http://127.0.0.1:$PORT/api/deliveries")
expect_contains "the DC sample names its repository" "$logs" "PLAT/billing-api"

# A Cloud delivery at the GitHub endpoint (signed with its secret, as a confused operator
# would set it up): 400 naming the bitbucket-cloud provider, never legacy_sha1.
r=$(send bitbucket-cloud github gh-s3cret "$EX/bitbucket-cloud-push.json" \
    'X-Event-Key: repo:push' 'X-Hook-UUID: 6f1d2c3b-4a59-4687-8766-5c0f1e2d3b4a')
expect_eq "a Bitbucket Cloud delivery at a GitHub endpoint: 400" "${r##* }" 400
expect_contains "which says it looks like Bitbucket Cloud's and where to point it" "$r" \
    "looks like Bitbucket Cloud's"
expect_contains "and names the provider to use" "$r" "bitbucket-cloud endpoint"
case $r in *legacy_sha1*) not_ok "the answer still hints legacy_sha1: $r" ;;
*) ok "no legacy_sha1 hint" ;; esac

# --curl needs a file: curl cannot re-read standard input the way it was signed.
"$INST_BIN" sign -P "$INST_PLUGINS" -p github -s x --curl http://127.0.0.1:1/ - \
    </dev/null >/dev/null 2>"$TMP/err"
expect_eq "sign --curl of standard input is a usage error" "$?" 2
expect_contains "and says why" "$(cat "$TMP/err")" "--curl needs the body as a FILE"
stop_gateway
finish
