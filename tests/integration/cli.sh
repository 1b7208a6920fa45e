#!/usr/bin/env bash
# Every `cargoman` subcommand from the build tree, its success and its error paths: a bad flag
# or a missing argument exits 2 with the usage, a missing file or a bad setting exits 1 with a
# one-line message, and `parse` turns each of the project's own provider fixtures into events.
# `serve` only for the errors that stop it before it listens (the daemon runs elsewhere).
. "$(dirname "$0")/lib.sh"

BIN="$CM_BUILDDIR/cargoman"
MODS="$CM_BUILDDIR/modules"
FIX="$CM_SRCDIR/tests/fixtures"

# run ARGS...: sets RC, OUT (stdout) and ERR (stderr) of `cargoman ARGS...` (stdin empty).
run() {
    "$BIN" "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    RC=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
}
# usage_error WHAT ARGS...: exit 2, "usage:" on stderr, nothing on stdout.
usage_error() {
    local what=$1
    shift
    run "$@"
    expect_eq "$what: exit 2" "$RC" 2
    expect_contains "$what: usage on stderr" "$ERR" "usage: cargoman"
    expect_eq "$what: nothing on stdout" "$OUT" ""
}
# user_error WHAT TEXT ARGS...: exit 1 with TEXT in the message on stderr.
user_error() {
    local what=$1 text=$2
    shift 2
    run "$@"
    expect_eq "$what: exit 1" "$RC" 1
    expect_contains "$what: says why" "$ERR" "$text"
}

# --- the command itself ---
usage_error "no command" 
usage_error "unknown command" frobnicate
expect_contains "unknown command is named" "$ERR" 'unknown command "frobnicate"'
for h in --help -h help; do
    run "$h"
    expect_eq "cargoman $h exits 0" "$RC" 0
    expect_contains "cargoman $h prints the usage on stdout" "$OUT" "usage: cargoman COMMAND"
done
for v in version --version; do
    run "$v"
    expect_eq "cargoman $v exits 0" "$RC" 0
    expect_contains "cargoman $v names version and ABI" "$OUT" "(plugin ABI "
done

# --- every subcommand: --help, a bad flag, a stray argument ---
for cmd in serve check parse sign plugins; do
    run "$cmd" --help
    expect_eq "$cmd --help exits 0" "$RC" 0
    expect_contains "$cmd --help prints its usage" "$OUT" "usage: cargoman $cmd"
    usage_error "$cmd with an unknown flag" "$cmd" -Z
done
usage_error "serve with a stray argument" serve extra
usage_error "check with a stray argument" check extra
usage_error "parse without -e or -p" parse
usage_error "parse with both -e and -p" parse -e a -p github
usage_error "parse with two files" parse -p github a b
usage_error "sign without -s" sign -p github
usage_error "sign without -p" sign -s k
usage_error "sign with two files" sign -p github -s k a b

run parse -p github -H 'no colon here'
expect_eq "parse -H without a colon: exit 2" "$RC" 2
expect_contains "parse -H without a colon: says the form" "$ERR" "'Name: value'"
many=()
for i in $(seq 65); do many+=(-H "X-$i: v"); done
run parse -p github "${many[@]}"
expect_eq "parse with 65 headers: exit 2" "$RC" 2

# --- check ---
run check -c "$CM_SRCDIR/conf.d" -P "$MODS"
expect_eq "check of the shipped conf.d exits 0" "$RC" 0
expect_contains "check lists the endpoints" "$OUT" "endpoint github"
expect_contains "check lists the sync plugins" "$OUT" "sync     composer"
expect_contains "check prints each webhook path, provider and signing" "$OUT" \
    "POST /api/webhooks/github  provider=github signed=NO url=https://github.com"
expect_contains "check prints every warning" "$OUT" 'warning: endpoint "github" has no secret'
expect_contains "check counts the warnings" "$OUT" "warning(s)"
expect_contains "check lists the routes the composer plugin serves, and who may read them" "$OUT" \
    "routes   GET /packages.json, /p2/, /dist/  (sync composer): no tokens: loopback only"
expect_contains "check prints the limits" "$OUT" "limits   max_body"
# The read tokens once had a top-level block; it now says where they go.
mkdir -p "$TMP/oldtokens"
printf 'server = { listen = "127.0.0.1:8080"; };\ncomposer = { tokens = [ "ci:t" ]; };\n' \
    >"$TMP/oldtokens/00.conf"
run check -c "$TMP/oldtokens" -P "$MODS"
expect_eq "check of the old composer block exits 1" "$RC" 1
expect_contains "and names the file and line, and where the keys go now" "$ERR" \
    "oldtokens/00.conf:2: unknown setting \"composer\": tokens and public are now keys of the sync entry"
expect_contains "and shows the entry" "$ERR" 'sync = ( { plugin = "composer"; tokens = [ "user:token" ];'
user_error "check of a missing directory" "/nonexistent-cm" check -c /nonexistent-cm -P "$MODS"
user_error "check of a syntax error" "10-bad.conf" check -c "$FIX/config/badsyntax" -P "$MODS"
user_error "check of a duplicate endpoint" "dupendpoint" check -c "$FIX/config/dupendpoint" \
    -P "$MODS"
# The build tree's own binary finds the modules built beside it without -P (until the
# built-in directory is installed); a copy of the same binary elsewhere, as an installed one,
# never loads them.
BUILTIN=$("$BIN" --help | sed -n 's/.*server.plugin_path add more; \(.*\) is searched last.*/\1/p')
if [ -d "$BUILTIN" ]; then
    echo "# $BUILTIN is installed: the build-tree fallback is not used, not tested here"
else
    run check -c "$CM_SRCDIR/conf.d"
    expect_eq "the build tree's cargoman checks the shipped conf.d without -P" "$RC" 0
    expect_contains "and loads the providers built beside it" "$OUT" "provider=bitbucket-cloud"
    cp "$BIN" "$TMP/cargoman-elsewhere"
    BIN="$TMP/cargoman-elsewhere" user_error "a cargoman outside the build tree never loads its modules" \
        "no bitbucket-cloud.so in (an empty plugin path)" check -c "$CM_SRCDIR/conf.d"
    mkdir -p "$TMP/noplug"
    BIN="$TMP/cargoman-elsewhere" user_error "check without the provider plugin" \
        "bitbucket-cloud" check -c "$CM_SRCDIR/conf.d" -P "$TMP/noplug"
fi
# Listening beyond loopback with an unsigned endpoint: check names it and fails.
mkdir -p "$TMP/open"
cat >"$TMP/open/00.conf" <<'CONF'
server = { listen = "0.0.0.0:8080"; data_dir = "var"; };
endpoint = { name = "gh"; provider = "github"; clone_url = "https://example.com/{repository}.git";
             ssh_url = "ssh://git@example.com:7999"; };
CONF
run check -c "$TMP/open" -P "$MODS"
expect_eq "check of an unsigned endpoint beyond loopback: exit 1" "$RC" 1
expect_contains "and counts the problems" "$OUT" "problem(s)"
expect_contains "and lists where it fetches from" "$OUT" \
    "fetch    https://example.com/{repository}.git (no credentials)"
# A signed endpoint and an admin token.
mkdir -p "$TMP/signed"
cat >"$TMP/signed/00.conf" <<'CONF'
server = { listen = "127.0.0.1:8080"; data_dir = "var"; admin_token = "0123456789abcdef0123"; };
endpoints = ( { name = "gh"; provider = "github"; secret = "s3cret"; },
              { name = "gl"; provider = "gitlab"; secret = "tok"; ssh_url = "ssh://git@x:22"; } );
CONF
run check -c "$TMP/signed" -P "$MODS"
expect_eq "check of a signed, public set-up exits 0" "$RC" 0
expect_contains "check says the endpoint is signed" "$OUT" "signed=yes (secret set)"
expect_contains "check prints the webhook path" "$OUT" "POST /api/webhooks/gl  provider=gitlab"
case $OUT in *warning*) not_ok "a signed set-up has no warning: $OUT" ;; *) ok "a signed set-up has no warning" ;; esac
expect_contains "check says the admin token is required" "$OUT" "Bearer token required"

# A misspelt key of a provider or a sync plugin (declared keys, SDK 1.2): exit 1, file:line.
mkdir -p "$TMP/typo"
cat >"$TMP/typo/00.conf" <<'CONF'
endpoint = { name = "gh"; provider = "github"; secret = "s";
             clone_ur = "https://example.com/{repository}.git"; };
CONF
user_error "check of a misspelt endpoint key" \
    '00.conf:2: endpoint "gh" (provider github): unknown key "clone_ur": did you mean "clone_url"?' \
    check -c "$TMP/typo" -P "$MODS"
expect_eq "a misspelt key prints no endpoint" "$OUT" ""
cat >"$TMP/typo/00.conf" <<'CONF'
endpoint = { name = "gh"; provider = "github"; secret = "s"; legacy_sha1 = "yes"; };
sync = ( { plugin = "exec"; command = "/bin/true"; } );
CONF
user_error "check of a provider key of the wrong type" \
    '00.conf:1: endpoint "gh" (provider github): legacy_sha1 must be true or false' \
    check -c "$TMP/typo" -P "$MODS"
cat >"$TMP/typo/00.conf" <<'CONF'
endpoint = { name = "gh"; provider = "github"; secret = "s"; legacy_sha1 = true; };
sync = ( { plugin = "exec"; command = "/bin/true"; timeout = 5; },
         { plugin = "exec"; command = "/bin/true";
           timout = 5; } );
CONF
user_error "check of a misspelt sync key" \
    '00.conf:4: sync plugin exec: unknown key "timout": did you mean "timeout"?' \
    check -c "$TMP/typo" -P "$MODS"
sed -i 's/timout/timeout/' "$TMP/typo/00.conf"
run check -c "$TMP/typo" -P "$MODS"
expect_eq "check of every declared key spelt right exits 0" "$RC" 0

# A provider built against SDK 1.0 declares no keys: its keys pass unchecked, with a warning.
mkdir -p "$TMP/old/providers" "$TMP/oldconf"
cp "$CM_BUILDDIR/tests/modules/.libs/t_v10.so" "$TMP/old/providers/"
cat >"$TMP/oldconf/00.conf" <<'CONF'
endpoint = { name = "old"; provider = "t_v10"; secret = "s"; url = "https://t.example";
             t_opton = "x"; };
CONF
run check -c "$TMP/oldconf" -P "$TMP/old"
expect_eq "check of a 1.0 provider's undeclared key exits 0" "$RC" 0
expect_contains "and warns that its keys are not checked" "$OUT" \
    'warning: endpoint "old": provider t_v10 declares no config keys (built against SDK 1.0)'

# --- parse: each provider fixture of our own, with its host's event header ---
header() {
    case $1 in
    github) echo 'X-GitHub-Event: push' ;;
    gitlab) case $2 in *system*) echo 'X-Gitlab-Event: System Hook' ;;
            *tag*) echo 'X-Gitlab-Event: Tag Push Hook' ;;
            *) echo 'X-Gitlab-Event: Push Hook' ;; esac ;;
    bitbucket-cloud) echo 'X-Event-Key: repo:push' ;;
    bitbucket-datacenter) case $2 in *mirror* | *ref-limit*) echo 'X-Event-Key: mirror:repo_synchronized' ;;
                          *) echo 'X-Event-Key: repo:refs_changed' ;; esac ;;
    esac
}
for p in github gitlab bitbucket-cloud bitbucket-datacenter; do
    for f in "$FIX/$p"/own-*.json; do
        b=$(basename "$f" .json)
        run parse -p "$p" -P "$MODS" -H "$(header "$p" "$b")" "$f"
        expect_eq "parse -p $p $b exits 0" "$RC" 0
        case $b in
        *empty-changes*) expect_contains "parse -p $p $b prints an array" "$OUT" "[" ;;
        *) expect_contains "parse -p $p $b prints its events" "$OUT" "\"provider\": \"$p\"" ;;
        esac
    done
done
# From stdin, and an event the provider declines.
OUT=$("$BIN" parse -p github -P "$MODS" -H 'X-GitHub-Event: push' - <"$FIX/github/own-tag-delete.json")
expect_contains "parse reads stdin" "$OUT" '"action": "delete"'
run parse -p github -P "$MODS" -H 'X-GitHub-Event: ping' "$FIX/github/push-is-ping.json"
expect_eq "parse of an ignored event exits 0" "$RC" 0
expect_eq "and prints an empty array" "$OUT" "[]"
expect_contains "and says why it was ignored" "$ERR" "ignored: event type ping is not a push"
run parse -p gitlab -P "$MODS" -H 'X-Gitlab-Event: Issue Hook' "$FIX/github/push-is-ping.json"
expect_contains "parse says why gitlab ignored a delivery" "$ERR" \
    "ignored: event type Issue Hook is not a push"
printf '{"eventKey": "pr:opened"}' >"$TMP/pr.json"
run parse -p bitbucket-datacenter -P "$MODS" -H 'X-Event-Key: pr:opened' "$TMP/pr.json"
expect_contains "parse says why bitbucket-datacenter ignored a delivery" "$ERR" \
    "ignored: event pr:opened is not a push"
# An endless input (/dev/zero, a FIFO nobody closes) is read only as far as server.max_body,
# as the gateway would: no more memory than that (the limit makes a regression fail, not
# swap), and the answer the gateway would give.
# AddressSanitizer reserves terabytes of address space, so under it only the deadline guards.
case "$(ldd "$BIN" 2>/dev/null)" in
*libasan*) vlimit=: ;;
*) vlimit="ulimit -v 400000" ;;
esac
RC=0
ERR=$( ($vlimit; timeout 60 "$BIN" parse -p github -P "$MODS" -H 'X-GitHub-Event: push' \
    /dev/zero) 2>&1 >/dev/null) || RC=$?
expect_eq "parse of an endless input: exit 1" "$RC" 1
expect_contains "parse of an endless input: says why" "$ERR" \
    "/dev/zero is larger than server.max_body (1048576 bytes): the gateway answers it 413"
user_error "parse of a bad payload" "HTTP 400" parse -p github -P "$MODS" \
    -H 'X-GitHub-Event: push' "$FIX/github/push-no-repository.json"
user_error "parse of a missing file" "cannot read $TMP/none.json" parse -p github -P "$MODS" \
    "$TMP/none.json"
user_error "parse of a directory" "cannot read $TMP" parse -p github -P "$MODS" "$TMP"
user_error "parse with an unknown provider" "nosuch" parse -p nosuch -P "$MODS" "$f"
user_error "parse -e of an unknown endpoint" 'no endpoint "nope"' parse -e nope \
    -c "$TMP/signed" -P "$MODS" "$f"
user_error "parse -e with a missing conf dir" "/nonexistent-cm" parse -e gh -c /nonexistent-cm \
    -P "$MODS" "$f"
# -e checks the endpoint's secret: a body signed with `sign` passes, a wrong one does not.
body="$FIX/github/own-branch-create.json"
sig=$("$BIN" sign -P "$MODS" -p github -s s3cret "$body" | sed -n 's/^X-Hub-Signature-256: //p')
run parse -e gh -c "$TMP/signed" -P "$MODS" -H 'X-GitHub-Event: push' \
    -H "X-Hub-Signature-256: $sig" "$body"
expect_eq "parse -e with the signature sign made exits 0" "$RC" 0
expect_contains "and prints the event of that endpoint" "$OUT" '"endpoint": "gh"'
user_error "parse -e with a wrong signature" "HTTP 401" parse -e gh -c "$TMP/signed" -P "$MODS" \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$(printf '0%.0s' $(seq 64))" "$body"

# --- sign ---
for p in bitbucket-cloud bitbucket-datacenter; do
    run sign -P "$MODS" -p "$p" -s k "$body"
    expect_eq "sign -p $p exits 0" "$RC" 0
    expect_contains "sign -p $p prints X-Hub-Signature" "$OUT" "X-Hub-Signature: sha256="
done
run sign -P "$MODS" -p github -s k "$body"
expect_contains "sign -p github prints the legacy sha1 header too" "$OUT" "X-Hub-Signature: sha1="
run sign -P "$MODS" -p gitlab -s plaintoken "$body"
expect_eq "sign -p gitlab with a plain token prints it" "$OUT" "X-Gitlab-Token: plaintoken"
OUT=$(printf '{}' | "$BIN" sign -P "$MODS" -p github -s k)
expect_contains "sign reads stdin" "$OUT" "X-Hub-Signature-256: sha256="
user_error "sign with an unknown provider" 'no gitea.so in' sign -P "$MODS" -p gitea -s k "$body"
user_error "sign of a missing file" "cannot read $TMP/none.json" sign -P "$MODS" -p github -s k \
    "$TMP/none.json"

# --- plugins ---
run plugins -P "$MODS"
expect_eq "plugins exits 0" "$RC" 0
for p in github gitlab bitbucket-cloud bitbucket-datacenter; do
    expect_contains "plugins lists provider $p" "$OUT" "provider  $p "
done
expect_contains "plugins lists the composer sync plugin" "$OUT" "sync      composer "
expect_contains "plugins lists the exec sync plugin" "$OUT" "sync      exec "
user_error "plugins of a missing directory" "-P $TMP/none: No such file or directory" plugins \
    -P "$TMP/none"
# A module built for another ABI is refused by name, and the good ones are still listed.
mkdir -p "$TMP/bad/providers" "$TMP/bad/plugins"
ln -s "$CM_BUILDDIR/tests/modules/.libs/t_major.so" "$TMP/bad/providers/t_major.so"
ln -s "$MODS/providers/github.so" "$TMP/bad/providers/github.so"
run plugins -P "$TMP/bad"
expect_eq "plugins with a refused module: exit 1" "$RC" 1
expect_contains "and names it" "$ERR" "t_major"
expect_contains "and still lists the good one" "$OUT" "provider  github "

# --- serve: what stops it before it listens ---
user_error "serve with a missing conf dir" "/nonexistent-cm" serve -c /nonexistent-cm \
    -P "$MODS"
: >"$TMP/file"
user_error "serve with a data dir under a file" "cannot create data directory" serve \
    -c "$TMP/signed" -P "$MODS" -d "$TMP/file/data" -l 127.0.0.1:0
user_error "serve without its provider plugins" "bitbucket-cloud" serve -c "$CM_SRCDIR/conf.d" \
    -P "$TMP/noplug" -d "$TMP/data" -l 127.0.0.1:0
user_error "serve beyond loopback unsigned" "refusing to serve beyond loopback" serve \
    -c "$TMP/open" -P "$MODS" -d "$TMP/data"
# A port another socket holds: the front cannot start, and the message names the address.
busy=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); open(sys.argv[2],"w").write("x"); time.sleep(30)' \
    "$busy" "$TMP/held" &
echo $! >"$TMP/holder.pid"
wait_until 10 test -f "$TMP/held"
user_error "serve on a port in use" "127.0.0.1:$busy" serve -c "$TMP/signed" -P "$MODS" \
    -d "$TMP/data" -l "127.0.0.1:$busy"
finish
