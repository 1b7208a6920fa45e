#!/usr/bin/env bash
# Repository names outside a host's own rules, and a replayed signed GitLab delivery, against
# the real daemon: each provider answers a hostile name with 400 before anything is queued,
# and a signed delivery replayed under a new Idempotency-Key is a duplicate (issue 7, provider
# points 3 and 9). The fetch URLs point at a closed loopback port: nothing leaves the machine.
. "$(dirname "$0")/../lib.sh"
need curl python3

TOKEN="whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
A=1111111111111111111111111111111111111111
B=2222222222222222222222222222222222222222

install_gateway
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "gh"; provider = "github"; url = "http://127.0.0.1:1"; },
  { name = "cloud"; provider = "bitbucket-cloud"; url = "http://127.0.0.1:1"; },
  { name = "dc"; provider = "bitbucket-datacenter"; url = "http://127.0.0.1:1"; },
  { name = "gl"; provider = "gitlab"; url = "http://127.0.0.1:1"; signing_token = "$TOKEN"; }
);
CONF
start_gateway "$TMP/conf" "$TMP/data"

# NAME is JSON string content: "\n" and "\u001b" arrive as a newline and an ESC.
github_body() {
    printf '{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"%s"}}' \
        "$A" "$B" "$1" >"$TMP/body.json"
}
cloud_body() {
    printf '{"repository":{"full_name":"%s"},"push":{"changes":[]}}' "$1" >"$TMP/body.json"
}
dc_body() {
    printf '{"eventKey":"repo:refs_changed","repository":{"slug":"%s","project":{"key":"%s"}},"changes":[]}' \
        "${1#*/}" "${1%%/*}" >"$TMP/body.json"
}
gitlab_body() {
    printf '{"object_kind":"push","ref":"refs/heads/main","before":"%s","after":"%s","project":{"path_with_namespace":"%s","id":1,"git_http_url":"http://127.0.0.1:1/%s.git"}}' \
        "$A" "$B" "$1" "$1" >"$TMP/body.json"
}

# refused EP MAKE_BODY NAME WANT HEADER...: the delivery is answered 400 with WANT in the reason.
refused() {
    local ep=$1 make=$2 name=$3 want=$4 r
    shift 4
    "$make" "$name"
    r=$(post "$ep" "$TMP/body.json" "$@")
    expect_eq "$ep: \"$name\" is 400" "${r%% *}" 400
    expect_contains "$ep: \"$name\": the reason says why" "$r" "$want"
}

refused gh github_body '../x' 'the owner is \"..\"' -H 'X-GitHub-Event: push'
refused gh github_body 'o/r.git/objects' 'it has 3' -H 'X-GitHub-Event: push'
refused gh github_body 'o/r\nx' 'byte 0x0a' -H 'X-GitHub-Event: push'
refused gh github_body 'o/\u001b[31mr' 'byte 0x1b' -H 'X-GitHub-Event: push'
refused gh github_body 'o/r@evil' "holds '@'" -H 'X-GitHub-Event: push'
refused cloud cloud_body 'a.git/b' 'ends in \".git\"' -H 'X-Event-Key: repo:push'
refused cloud cloud_body 'o/r x' 'holds a space' -H 'X-Event-Key: repo:push'
refused dc dc_body '~/r' "no user name after '~'" -H 'X-Event-Key: repo:refs_changed'
refused dc dc_body 'P~X/r' "holds '~'" -H 'X-Event-Key: repo:refs_changed'

# The GitLab endpoint has a signing token: the delivery is signed (the body is made again, the
# same bytes), and the name is refused after the signature passed.
gitlab_body 'o/r.git/objects'
mapfile -t sig < <("$INST_BIN" sign -P "$INST_PLUGINS" -p gitlab -s "$TOKEN" -i msg_hostile_name "$TMP/body.json")
refused gl gitlab_body 'o/r.git/objects' 'path segment 2 ends in \".git\"' \
    -H 'X-Gitlab-Event: Push Hook' -H "${sig[0]}" -H "${sig[1]}" -H "${sig[2]}"

# The reason is one line in the answer and the log: the newline and ESC were not echoed.
if grep -q $'\x1b' "$TMP/gateway.log"; then
    not_ok "an ESC from a repository name reached the log"
else
    ok "no ESC from a repository name in the log"
fi

# Replay: a signed delivery, then the same bytes and signature under new Idempotency-Keys.
gitlab_body 'grp/app'
mapfile -t sig < <("$INST_BIN" sign -P "$INST_PLUGINS" -p gitlab -s "$TOKEN" -i msg_2f8c1a7e "$TMP/body.json")
r=$(post gl "$TMP/body.json" -H 'X-Gitlab-Event: Push Hook' -H 'Idempotency-Key: msg_2f8c1a7e' \
    -H "${sig[0]}" -H "${sig[1]}" -H "${sig[2]}")
expect_eq "gl: the signed delivery is queued" "${r%% *}" 202
expect_contains "gl: under its signed webhook-id" "$r" '"delivery":"msg_2f8c1a7e"'
r=$(post gl "$TMP/body.json" -H 'X-Gitlab-Event: Push Hook' -H 'Idempotency-Key: attacker-1' \
    -H "${sig[0]}" -H "${sig[1]}" -H "${sig[2]}")
expect_eq "gl: a replay with a new Idempotency-Key is a duplicate" "$r" '200 {"status":"duplicate"}'
r=$(post gl "$TMP/body.json" -H 'X-Gitlab-Event: Push Hook' -H 'X-Gitlab-Webhook-UUID: attacker-2' \
    -H "${sig[0]}" -H "${sig[1]}" -H "${sig[2]}")
expect_eq "gl: a replay with no Idempotency-Key is a duplicate" "$r" '200 {"status":"duplicate"}'

stop_gateway
finish
