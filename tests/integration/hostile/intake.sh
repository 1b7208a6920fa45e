#!/usr/bin/env bash
# Attacks on intake and on where fetches go (docs/SECURITY.md, points 1-5): form smuggling for
# every provider, clone URLs on another port, scheme or host, the scp trick, file://,
# redirects that would carry the token elsewhere, hostile repository names and forged log
# lines, the public hosts' default url, and the refusal to serve unsigned beyond loopback.
. "$(dirname "$0")/../lib.sh"
need curl python3

install_gateway
SECRET=s3cret TOKEN=TOPSECRET-token-4711

# Three recorders stand in for git hosts: A is the endpoint's host and redirects, B (another
# port) and C (another host, 127.0.0.2) ask for credentials and log every request.
cat >"$TMP/recorder.py" <<'PY'
import http.server, sys
addr, port, log, redirect_port, redirect_host = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
redirects = redirect_port != "-"  # only A redirects; B and C always ask for credentials
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write("%s %s auth=%s\n" % (self.command, self.path, self.headers.get("Authorization")))
        if redirects and self.path.startswith("/port/"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:%s%s" % (redirect_port, self.path))
        elif redirects and self.path.startswith("/host/"):
            self.send_response(302)
            self.send_header("Location", "http://%s%s" % (redirect_host, self.path))
        else:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_POST = do_GET
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer((addr, port), H).serve_forever()
PY
PA=$(free_port) PB=$(free_port) PC=$(free_port)
for r in "A 127.0.0.1 $PA" "B 127.0.0.1 $PB" "C 127.0.0.2 $PC"; do
    set -- $r
    : >"$TMP/rec-$1.log"
    if [ "$1" = A ]; then
        python3 "$TMP/recorder.py" "$2" "$3" "$TMP/rec-$1.log" "$PB" "127.0.0.2:$PC" &
    else
        python3 "$TMP/recorder.py" "$2" "$3" "$TMP/rec-$1.log" - - &
    fi
    echo $! >"$TMP/rec-$1.pid"
done

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; };
git = { auth_user = "bot"; auth_token = "$TOKEN"; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "gh"; provider = "github"; url = "http://127.0.0.1:$PA"; secret = "$SECRET"; },
  { name = "pub"; provider = "github"; secret = "$SECRET"; },
  { name = "sg"; provider = "github"; secret = "$SECRET"; clone_url = "git://127.0.0.1:1/{repository}.git"; },
  { name = "sc"; provider = "bitbucket-cloud"; secret = "$SECRET"; clone_url = "git://127.0.0.1:1/{repository}.git"; },
  { name = "sd"; provider = "bitbucket-datacenter"; secret = "$SECRET"; clone_url = "git://127.0.0.1:1/{repository}.git"; },
  { name = "sl"; provider = "gitlab"; secret = "$SECRET"; clone_url = "git://127.0.0.1:1/{repository}.git"; }
);
CONF
start_gateway "$TMP/conf" "$TMP/data"
for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PA/x" && curl -s -o /dev/null "http://127.0.0.1:$PB/x" &&
        curl -s -o /dev/null "http://127.0.0.2:$PC/x" && break
    sleep 0.1
done
: >"$TMP/rec-A.log"
: >"$TMP/rec-B.log"
: >"$TMP/rec-C.log"

# gh_push NAME CLONE_URL SSH_URL: a GitHub push of refs/heads/main for repository NAME.
gh_push() {
    python3 - "$@" <<'PY'
import json, sys, zlib
name, http, ssh = sys.argv[1], sys.argv[2], sys.argv[3]
print(json.dumps({"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40,
    "created": False, "deleted": False, "forced": False, "pusher": {"name": "jd"},
    "sender": {"login": "jd"}, "repository": {"id": zlib.crc32(name.encode()), "full_name": name, "clone_url": http,
    "ssh_url": ssh, "html_url": "https://example.invalid/" + name}}))
PY
}

# send ENDPOINT FILE PROVIDER CONTENT_TYPE [curl args]: the delivery signed as PROVIDER's host
# signs it; prints "CODE BODY".
send() {
    local ep=$1 file=$2 provider=$3 ct=$4
    shift 4
    local hdrs=()
    while IFS= read -r h; do [ -n "$h" ] && hdrs+=(-H "$h"); done \
        < <("$INST_BIN" sign -P "$INST_PLUGINS" -p "$provider" -s "$SECRET" "$file")
    curl -s -w '\n%{http_code}' -X POST "http://127.0.0.1:$PORT/api/webhooks/$ep" \
        -H "Content-Type: $ct" "${hdrs[@]}" --data-binary "@$file" "$@" |
        { body=$(cat); printf '%s %s' "${body##*$'\n'}" "${body%$'\n'*}"; }
}
gh_send() { send "$1" "$2" github application/json -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $3"; }

# --- 1. Form smuggling: a signed JSON delivery whose text carries &payload=<other repo>&,
# replayed as a form, must never queue the smuggled repository.
smuggled=$(gh_push evil/smuggled "git://127.0.0.1:1/evil/smuggled.git" "" |
    python3 -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.stdin.read().strip()))')
inject() { # FILE_IN FILE_OUT: a commit-message-like field holding the smuggled payload
    python3 - "$1" "$2" "$smuggled" <<'PY'
import json, sys, zlib
d = json.load(open(sys.argv[1]))
d["message"] = "fix&payload=" + sys.argv[3] + "&x=1"
open(sys.argv[2], "w").write(json.dumps(d))
PY
}
gh_push acme/real "git://127.0.0.1:1/acme/real.git" "" >"$TMP/gh-real.json"
inject "$TMP/gh-real.json" "$TMP/s-github.json"
inject "$CM_SRCDIR/tests/fixtures/bitbucket-cloud/minimal-fields.json" "$TMP/s-bitbucket-cloud.json"
inject "$CM_SRCDIR/tests/fixtures/bitbucket-datacenter/minimal-fields.json" "$TMP/s-bitbucket-datacenter.json"
inject "$CM_SRCDIR/tests/fixtures/gitlab/push-minimal.json" "$TMP/s-gitlab.json"
for spec in "sg;github;X-GitHub-Event: push" "sc;bitbucket-cloud;X-Event-Key: repo:push" \
    "sd;bitbucket-datacenter;X-Event-Key: repo:refs_changed" "sl;gitlab;X-Gitlab-Event: Push Hook"; do
    IFS=';' read -r ep provider ev <<<"$spec"
    set -- "$ep" "$provider"
    r=$(send "$1" "$TMP/s-$2.json" "$2" application/x-www-form-urlencoded -H "$ev" -H "X-Request-Id: f-$1")
    case "${r%% *}" in 400 | 401) ok "$2: signed JSON replayed as a form is refused (${r%% *})" ;;
    *) not_ok "$2: form replay got $r" ;; esac
    case "$r" in *smuggled*) not_ok "$2: the answer names the smuggled repository" ;; esac
    r=$(send "$1" "$TMP/s-$2.json" "$2" application/json -H "$ev" -H "X-Request-Id: j-$1")
    expect_eq "$2: the same signed bytes as JSON are the real delivery" "${r%% *}" 202
done
r=$(curl -s "http://127.0.0.1:$PORT/api/deliveries")
case "$r" in *evil/smuggled*) not_ok "the smuggled repository was recorded" ;;
*) ok "nothing of the smuggled repository was queued" ;; esac

# A captured signed delivery replayed under fresh delivery ids (headers no signature covers)
# is the push already waiting: a duplicate each time, and the queue does not grow. One that
# comes while a sync of the waiting push runs is stored (that sync may have fetched before the
# ref came back), so the queue may grow by that one, never more: replays cannot fill it.
before=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^cargoman_spool_depth //p')
dups=0
for i in $(seq 1 20); do
    r=$(send sg "$TMP/s-github.json" github application/json -H 'X-GitHub-Event: push' \
        -H "X-GitHub-Delivery: replay-$i")
    [ "$r" = '200 {"status":"duplicate"}' ] && dups=$((dups + 1))
done
after=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^cargoman_spool_depth //p')
if [ "$dups" -ge 19 ] && [ "$after" -le $((before + 20 - dups)) ] && [ "$after" -le $((before + 1)) ]; then
    ok "20 replays with fresh delivery ids: $dups duplicates, the queue grew by $((after - before))"
else
    not_ok "20 replays with fresh delivery ids: $dups duplicates (want 19 or 20), depth $before -> $after"
fi

# --- 2. Clone URLs that point elsewhere are refused at intake, before anything is queued.
i=0
for bad in "http://127.0.0.1:$PB/o/r.git|another port" "https://127.0.0.1:$PA/o/r.git|another scheme" \
    "http://127.0.0.2:$PA/o/r.git|another host" "evilhost:x://127.0.0.1:$PA/o/r.git|the scp trick" \
    "file://localhost$TMP/data/mirrors/sg/acme/real.git|file://" \
    "$TMP/data/mirrors/sg/acme/real.git|a local path"; do
    i=$((i + 1))
    gh_push o/r "${bad%%|*}" "${bad%%|*}" >"$TMP/u$i.json"
    r=$(gh_send gh "$TMP/u$i.json" "url-$i")
    expect_eq "a clone URL on ${bad##*|} is refused with 400" "${r%% *}" 400
    case "$r" in *"$TMP"* | *"127.0.0.1:$PA"* | *conf.d* | *.conf*) not_ok "the answer shows our paths or URLs: $r" ;; esac
done
r=$(gh_send gh "$TMP/u1.json" "url-1b")
expect_contains "the reason says what is wrong" "$r" "not on this endpoint's host"

# --- 3. Redirects: the endpoint's own host redirects to another port (asks for credentials
# there) and to another host. The token reaches neither; the other host is not contacted.
gh_push port/r "http://127.0.0.1:$PA/port/r.git" "" >"$TMP/redir-port.json"
gh_push host/r2 "http://127.0.0.1:$PA/host/r2.git" "" >"$TMP/redir-host.json"
expect_eq "a push on the endpoint's host is accepted" "$(gh_send gh "$TMP/redir-port.json" rp | cut -d' ' -f1)" 202
expect_eq "another one is accepted" "$(gh_send gh "$TMP/redir-host.json" rh | cut -d' ' -f1)" 202
for _ in $(seq 1 100); do
    grep -q '/host/' "$TMP/rec-A.log" && grep -q '/port/' "$TMP/rec-B.log" && break
    sleep 0.1
done
wait_until 10 grep -q "/port/r.git" "$TMP/rec-A.log"
wait_until 10 grep -q "/port/r.git" "$TMP/rec-B.log"
expect_contains "the fetch went to the endpoint's host" "$(cat "$TMP/rec-A.log")" "/port/r.git"
# libgit2 1.5 follows a redirect to another port of the same host; the listener there asks
# for credentials, and the credentials callback refuses to answer for its origin.
expect_contains "the same-host redirect reached the other port, which asked for credentials" \
    "$(cat "$TMP/rec-B.log")" "/port/r.git"
for _ in $(seq 1 50); do
    grep -q 'asked for credentials on behalf of' "$TMP/gateway.log" && break
    sleep 0.1
done
expect_contains "and the log says the credentials were refused there" "$(cat "$TMP/gateway.log")" \
    "127.0.0.1:$PB asked for credentials on behalf of"
if grep -q "$TOKEN\|auth=Basic" "$TMP/rec-B.log"; then
    not_ok "credentials were sent to another port: $(cat "$TMP/rec-B.log")"
else
    ok "no Authorization header reached the listener on another port"
fi
expect_eq "the redirect to another host was not followed" "$(wc -l <"$TMP/rec-C.log")" 0
r=$(curl -s "http://127.0.0.1:$PORT/api/deliveries")
case "$r" in *'"state":"done"'*) not_ok "a redirected fetch counted as synced" ;;
*) ok "redirected fetches are not synced" ;; esac
if grep -q "$TOKEN" "$TMP/gateway.log"; then not_ok "the token is in the log"; else ok "the token is not in the log"; fi

# --- 4. Hostile repository names: 400 at intake, and the log cannot be forged.
for name in "o/r.git/objects" "o/../../etc" "a.git/b" "o/r x" "o/r@evil:22"; do
    gh_push "$name" "git://127.0.0.1:1/x.git" "" >"$TMP/name.json"
    r=$(gh_send sg "$TMP/name.json" "name-$name")
    expect_eq "repository \"$name\" is refused with 400" "${r%% *}" 400
done
gh_push $'o/r\ncargoman[info] sync: FORGED synced' "git://127.0.0.1:1/x.git" "" >"$TMP/name.json"
r=$(gh_send sg "$TMP/name.json" forged)
expect_eq "a name with a newline is refused" "${r%% *}" 400
if grep -q '^cargoman\[info\] sync: FORGED' "$TMP/gateway.log"; then
    not_ok "a repository name forged a log line"
else
    ok "no log line can be forged through a repository name"
fi
expect_contains "the refusal, forged text included, is one log line" \
    "$(grep 'delivery: .* status=400 reason=' "$TMP/gateway.log")" 'sync: FORGED synced'

[ -z "$(find "$TMP/data/mirrors" -path '*.git/*.git' 2>/dev/null)" ] && ok "no mirror inside a mirror" ||
    not_ok "a mirror was created inside another"

# --- 5. Public hosts need no url: github.com is the default, and still the only host.
gh_push o/r "https://github.com/o/r.git" "git@github.com:o/r.git" >"$TMP/pub.json"
expect_eq "a minimal github endpoint accepts a github.com push" "$(gh_send pub "$TMP/pub.json" pub-1 | cut -d' ' -f1)" 202
gh_push o/r "http://127.0.0.1:$PB/o/r.git" "" >"$TMP/pub2.json"
expect_eq "and refuses any other host" "$(gh_send pub "$TMP/pub2.json" pub-2 | cut -d' ' -f1)" 400
stop_gateway

# --- 6. Secure by default: no unsigned endpoint, no token-less Composer beyond loopback.
mkdir -p "$TMP/open"
cat >"$TMP/open/10-ep.conf" <<'CONF'
endpoint = { name = "open"; provider = "github"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:8080"; } );
CONF
P6=$(free_port)
out=$(timeout 10 "$INST_BIN" serve -c "$TMP/open" -d "$TMP/d6" -l "0.0.0.0:$P6" -P "$INST_PLUGINS" 2>&1)
expect_eq "serve refuses an unsigned endpoint beyond loopback" "$?" 1
expect_contains "and says how to allow it" "$out" "allow_unsigned = true"
expect_contains "and refuses a Composer repository without tokens" "$out" \
    "sync plugin composer serves /packages.json, /p2/..., /dist/... without tokens"
expect_contains "and says where they go" "$out" 'set tokens = [ "user:token" ] in its sync entry'

"$INST_BIN" check -c "$TMP/open" -P "$INST_PLUGINS" >/dev/null 2>&1
expect_eq "check passes the same configuration on loopback" "$?" 0
sed -i 's/"github"; }/"github"; allow_unsigned = true; }/' "$TMP/open/10-ep.conf"
printf 'server = { listen = "0.0.0.0:%s"; };\n' "$P6" >"$TMP/open/00-server.conf"
sed -i 's|"http://127.0.0.1:8080"; }|"http://127.0.0.1:8080"; public = true; }|' "$TMP/open/10-ep.conf"
"$INST_BIN" check -c "$TMP/open" -P "$INST_PLUGINS" >"$TMP/check.out" 2>&1
expect_eq "check accepts it once allow_unsigned and the sync entry's public say so" "$?" 0
expect_contains "and still warns" "$(cat "$TMP/check.out")" 'warning: endpoint "open" has no secret'
"$INST_BIN" serve -c "$TMP/open" -d "$TMP/d6" -P "$INST_PLUGINS" >>"$TMP/gateway.log" 2>&1 &
GW_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$P6/healthz" >/dev/null && break; sleep 0.1; done
expect_eq "it serves on 0.0.0.0" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P6/healthz")" 200
printf 'endpoint = { name = "late"; provider = "gitlab"; };\n' >"$TMP/open/20-late.conf"
kill -HUP "$GW_PID"
wait_until 10 grep -q 'keeping the running configuration: endpoint "late"' "$TMP/gateway.log"
expect_eq "a reload that adds an unsigned endpoint is refused" \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$P6/api/webhooks/late")" 404
expect_contains "and the log says why" "$(cat "$TMP/gateway.log")" 'keeping the running configuration: endpoint "late" has no secret'
stop_gateway
finish
