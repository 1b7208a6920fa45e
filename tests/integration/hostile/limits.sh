#!/usr/bin/env bash
# Floods against the real daemon: a spool filled past its per-endpoint and total depth (503
# with Retry-After), made-up repository names past new_repositories_per_hour (429, nothing
# queued), a delivery of 5,000 refs (queued incomplete), names too long for the file system
# (400), and first clones of repositories the git host lacks: given up within
# missing_repository_max_age, leaving no lock file and no empty directory. /healthz stays 200.
. "$(dirname "$0")/../lib.sh"
need curl python3 git

install_gateway
DEAD_PORT=$(free_port) # nothing listens there: syncs of its repositories never finish

# post_h ENDPOINT BODY_FILE [curl args...]: prints "CODE RETRY_AFTER BODY" (RETRY_AFTER "-"
# when absent).
post_h() {
    local ep=$1 file=$2 hdr resp code ra
    shift 2
    hdr=$(mktemp "$TMP/hdr.XXXXXX")
    resp=$(mktemp "$TMP/resp.XXXXXX")
    code=$(curl -s -D "$hdr" -o "$resp" -w '%{http_code}' -X POST \
        "http://127.0.0.1:$PORT/api/webhooks/$ep" -H 'Content-Type: application/json' \
        --data-binary "@$file" "$@")
    ra=$(tr -d '\r' <"$hdr" | sed -n 's/^[Rr]etry-[Aa]fter: //p')
    printf '%s %s %s' "$code" "${ra:--}" "$(cat "$resp")"
    rm -f "$hdr" "$resp"
}
# gh_body REPO: a GitHub push of main for REPO (owner/name); prints the file's path.
gh_body() {
    local f
    f=$(mktemp "$TMP/hook.XXXXXX")
    python3 - "$1" >"$f" <<'PY'
import json, secrets, sys, zlib
repo = sys.argv[1]
# Each push moves main somewhere new: the same push again would be a duplicate of the waiting one.
print(json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": secrets.token_hex(20),
  "created": False, "deleted": False, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "repository": {"id": zlib.crc32(repo.encode()), "full_name": repo,
  "clone_url": "https://github.com/%s.git" % repo, "ssh_url": "git@github.com:%s.git" % repo,
  "html_url": "https://github.com/" + repo}}))
PY
    echo "$f"
}
gh_push() { post_h "$1" "$(gh_body "$2")" -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $(date +%s%N)-$RANDOM"; }
# gl_push ENDPOINT REPO: a GitLab push for REPO, which may have many segments (groups).
gl_push() {
    local f
    f=$(mktemp "$TMP/hook.XXXXXX")
    python3 - "$2" >"$f" <<'PY'
import json, sys, zlib
print(json.dumps({"object_kind": "push", "event_name": "push", "ref": "refs/heads/main",
  "before": "1" * 40, "after": "2" * 40, "user_name": "t",
  "project": {"path_with_namespace": sys.argv[1]}}))
PY
    post_h "$1" "$f" -H 'X-Gitlab-Event: Push Hook'
}
healthy() {
    expect_eq "/healthz is still 200 $1" \
        "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" 200
}
no_paths() {
    case "$2" in *"$TMP"* | *mirrors/* | *spool*) not_ok "$1 names a path: $2" ;; *) ok "$1 names no path" ;; esac
}
code_of() { echo "${1%% *}"; }
retry_of() { local r=${1#* }; echo "${r%% *}"; }

# --- queue depth: per endpoint and in total ----------------------------------------------
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; max_queued = 6; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "tiny"; provider = "github"; url = "https://github.com"; max_queued = 3;
    clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; },
  { name = "other"; provider = "github"; url = "https://github.com";
    clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; }
);
CONF
start_gateway "$TMP/conf" "$TMP/data"

for i in 1 2 3; do
    r=$(gh_push tiny "acme/r$i")
    expect_eq "delivery $i of 3 to the tiny endpoint is queued" "$(code_of "$r")" 202
done
r=$(gh_push tiny acme/r4)
expect_eq "the 4th delivery to an endpoint with max_queued = 3 is 503" "$(code_of "$r")" 503
expect_eq "with Retry-After" "$(retry_of "$r")" 60
expect_contains "its error says the queue is full" "$r" '"error":"queue full: this endpoint'
expect_contains "and which limit" "$r" '"limit":"max_queued_per_endpoint"'
no_paths "the queue-full answer" "$r"
r=$(gh_push tiny acme/r1)
expect_eq "a repository already queued is refused as well" "$(code_of "$r")" 503
r=$(gh_push other acme/x1)
expect_eq "another endpoint still gets 202" "$(code_of "$r")" 202
healthy "after the per-endpoint limit"

r=$(gh_push other acme/x2)
expect_eq "the 5th entry in all is queued" "$(code_of "$r")" 202
r=$(gh_push other acme/x3)
expect_eq "the 6th entry in all is queued" "$(code_of "$r")" 202
r=$(gh_push other acme/x4)
expect_eq "the 7th with server.max_queued = 6 is 503" "$(code_of "$r")" 503
expect_eq "with Retry-After" "$(retry_of "$r")" 60
expect_contains "naming the total limit" "$r" '"limit":"max_queued"'
expect_contains "and what to raise" "$r" 'server.max_queued)'
no_paths "the queue-full answer" "$r"
depth=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^cargoman_spool_depth //p')
expect_eq "the queue holds no more than the limit" "$depth" 6
healthy "after the total limit"
stop_gateway

# --- new repositories, refs, name lengths, missing repositories --------------------------
# A data_dir deep enough that a name within the core's 1024 bytes no longer fits PATH_MAX.
deep="$TMP/deep"
for _ in $(seq 1 15); do deep="$deep/$(printf 'd%.0s' $(seq 1 200))"; done
mkdir -p "$deep"
start_git_daemon
PORT=$(free_port)
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; max_body = 4194304; missing_repository_max_age = 3;
           new_repositories_per_hour = 2; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "fresh"; provider = "github"; url = "https://github.com";
    new_repositories_per_hour = 3; clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; },
  { name = "gone"; provider = "github"; url = "https://github.com";
    new_repositories_per_hour = 0; clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; },
  { name = "signed"; provider = "github"; secret = "s3cret";
    clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; },
  { name = "bb"; provider = "bitbucket-cloud";
    clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; },
  { name = "gl"; provider = "gitlab";
    clone_url = "git://127.0.0.1:$DEAD_PORT/{repository}.git"; }
);
CONF
start_gateway "$TMP/conf" "$deep"

names=()
for i in 1 2 3 4 5; do names+=("made-up-$RANDOM$RANDOM/repo-$i"); done
for i in 0 1 2; do
    r=$(gh_push fresh "${names[$i]}")
    expect_eq "new repository $((i + 1)) of 3 is queued" "$(code_of "$r")" 202
done
r=$(gh_push fresh "${names[3]}")
expect_eq "the 4th new repository with new_repositories_per_hour = 3 is 429" "$(code_of "$r")" 429
ra=$(retry_of "$r")
if [ "$ra" -ge 1 ] 2>/dev/null && [ "$ra" -le 1200 ]; then ok "with Retry-After ($ra s)"; else not_ok "Retry-After: '$ra'"; fi
expect_contains "saying the limit" "$r" "at most 3 repositories"
expect_contains "and the key to raise" "$r" "server.new_repositories_per_hour"
no_paths "the 429 answer" "$r"
r=$(gh_push fresh "${names[4]}")
expect_eq "so is the 5th" "$(code_of "$r")" 429
if grep -q "${names[3]}\|${names[4]}" "$deep/spool/journal"; then
    not_ok "nothing was queued for the refused names"
else
    ok "nothing was queued for the refused names"
fi
r=$(gh_push fresh "${names[0]}")
expect_eq "a repository already queued is not new: 202" "$(code_of "$r")" 202
healthy "after the new-repository limit"
# Only the host can sign names: the server-wide rate (2 here) does not hold back a signed
# endpoint, which a 429 would make lose real pushes.
signed_ok=0
for i in 1 2 3 4; do
    f=$(gh_body "signed-$RANDOM/repo-$i")
    s=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$f" | sed -n 's/^X-Hub-Signature-256: //p')
    r=$(post_h signed "$f" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $s" \
        -H "X-GitHub-Delivery: signed-$i")
    [ "$(code_of "$r")" = 202 ] && signed_ok=$((signed_ok + 1))
done
expect_eq "4 new repositories on a signed endpoint are all queued" "$signed_ok" 4

# A first clone the git daemon answers "not exported" is given up within
# missing_repository_max_age (3 s here), and leaves nothing under mirrors/.
for i in 1 2 3; do
    r=$(gh_push gone "nobody-$RANDOM/missing-$i")
    expect_eq "a push for missing repository $i is queued" "$(code_of "$r")" 202
done
gave_up() { grep -c 'giving up after .* attempts: the host has no such repository' "$TMP/gateway.log"; }
for _ in $(seq 1 100); do
    [ "$(gave_up)" -ge 3 ] && break
    sleep 0.2
done
expect_eq "each missing repository is given up in seconds" "$(gave_up)" 3
expect_contains "with the reason logged" "$(cat "$TMP/gateway.log")" "server.missing_repository_max_age"
failed=$(curl -s "http://127.0.0.1:$PORT/api/deliveries" | python3 -c '
import json, sys, zlib
print(sum(1 for d in json.load(sys.stdin)["deliveries"] if d.get("state") == "failed"))' 2>/dev/null)
expect_eq "and recorded as failed" "$failed" 3
# The other endpoints' syncs are still trying (and cleaning up) meanwhile: look at this one's.
if [ -e "$deep/mirrors/gone" ]; then
    not_ok "no directory is left for the endpoint: $(find "$deep/mirrors/gone" | head -5)"
else
    ok "no directory is left for the endpoint (nor any empty one under it)"
fi
healthy "after failed first clones"

# A Bitbucket Cloud push of 5,000 refs: queued, without its change list, as incomplete.
python3 - >"$TMP/many.json" <<'PY'
import json
changes = [{"old": None, "new": {"type": "branch", "name": "b%d" % i,
            "target": {"type": "commit", "hash": "%040x" % (i + 1)}}} for i in range(5000)]
print(json.dumps({"push": {"changes": changes}, "repository": {"full_name": "acme/many"},
                  "actor": {"display_name": "t"}}))
PY
r=$(post_h bb "$TMP/many.json" -H 'X-Event-Key: repo:push' -H 'X-Request-UUID: many-1')
expect_eq "a delivery of 5,000 refs is queued" "$(code_of "$r")" 202
expect_contains "as incomplete" "$r" '"refs":[],"complete":false'
expect_contains "and logged" "$(cat "$TMP/gateway.log")" "5000 changed refs are more than server.max_refs_per_event (1000)"
healthy "after 5,000 refs"

# Names the file system cannot hold are refused at intake, not retried.
long=$(printf 'a%.0s' $(seq 1 250))
r=$(gh_push gone "acme/$long")
expect_eq "a last segment of 250 bytes (no room for .git.lock) is 400" "$(code_of "$r")" 400
expect_contains "saying it is too long" "$r" "too long"
r=$(gh_push gone "acme/${long:0:246}")
expect_eq "one of 246 bytes is accepted" "$(code_of "$r")" 202
seg=$(printf 'b%.0s' $(seq 1 240))
r=$(gl_push gl "acme/$seg/$seg/$seg/$seg/x")
expect_eq "a name whose mirror path would pass PATH_MAX is 400" "$(code_of "$r")" 400
expect_contains "saying how long a name may be here" "$r" "this gateway accepts names of at most"
no_paths "the too-long answer" "$r"
healthy "after names too long"

stop_gateway
finish
