#!/usr/bin/env bash
# Organisation-wide hooks: one signed endpoint with repositories = [ "acme/*" ] receives pushes
# for repositories it has never seen. Those inside the list are mirrored on first sight from a
# real git daemon, with no per-repository configuration and without the unsigned endpoints'
# new-repository rate; one outside it is answered 200 "ignored", logged, and never mirrored.
. "$(dirname "$0")/lib.sh"
need curl python3 git openssl

install_gateway
start_git_daemon

SECRET="org-hook secret for the test"
# repo PATH: PATH (owner/name) on the git daemon with one pushed commit on main; prints it.
repo() {
    new_repo_at "$1" "$TMP/work/$1"
    date +%s%N >"$TMP/work/$1/stamp"
    git -C "$TMP/work/$1" add stamp && git -C "$TMP/work/$1" commit -qm "first"
    git -C "$TMP/work/$1" push -q origin main 2>/dev/null
    git -C "$TMP/work/$1" rev-parse main
}
mirror_head() { git --git-dir="$TMP/data/mirrors/org/$1.git" rev-parse refs/heads/main 2>/dev/null; }
synced() { [ "$(mirror_head "$1")" = "$2" ]; }
# hook PATH NEW: a signed GitHub organization-hook push for PATH's main; prints "CODE BODY".
hook() {
    local f sig
    f=$(mktemp "$TMP/hook.XXXXXX")
    github_push "$1" "$2" >"$f"
    sig=$(openssl dgst -sha256 -hmac "$SECRET" -r "$f" | cut -d' ' -f1)
    post org "$f" -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $(date +%s%N)-$RANDOM" \
        -H 'X-GitHub-Hook-Installation-Target-Type: organization' \
        -H "X-Hub-Signature-256: sha256=$sig"
}

mkdir -p "$TMP/conf"
# One new repository an hour for unsigned endpoints: the signed org hook must not feel it.
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; new_repositories_per_hour = 1; };
CONF
cat >"$TMP/conf/10-org.conf" <<CONF
endpoint = { name = "org"; provider = "github"; url = "https://github.com";
             secret = "$SECRET";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git";
             repositories = [ "acme/*" ]; };
CONF
start_gateway "$TMP/conf" "$TMP/data"

one=$(repo acme/one)
two=$(repo acme/two)
three=$(repo acme/three)
other=$(repo other/x)

# 1. A repository outside the list: 200 ignored with a reason that names no configuration.
resp=$(hook other/x "$other")
expect_eq "other/x is answered 200" "${resp%% *}" 200
expect_eq "other/x's answer" "${resp#* }" \
    '{"status":"ignored","reason":"repository not in this endpoint'"'"'s allow-list"}'
if wait_for grep -q 'repository other/x is not in the endpoint' "$TMP/gateway.log"; then
    ok "other/x is logged as ignored"
else
    not_ok "no log line for other/x"
fi

# 2. Three repositories never seen before, inside the list: each queued (202) and mirrored,
#    though unsigned endpoints may name only one new repository an hour.
for r in one two three; do
    resp=$(hook "acme/$r" "$(eval echo "\$$r")")
    expect_eq "acme/$r is queued" "${resp%% *}" 202
done
for r in one two three; do
    if wait_for synced "acme/$r" "$(eval echo "\$$r")"; then
        ok "acme/$r mirrored on first sight"
    else
        not_ok "acme/$r not mirrored"
    fi
done

# 3. Nothing was queued for other/x: after the three syncs, it still has no mirror.
if [ -e "$TMP/data/mirrors/org/other" ]; then
    not_ok "other/x has a mirror"
else
    ok "other/x has no mirror"
fi
resp=$(curl -s "http://127.0.0.1:$PORT/api/repositories")
case "$resp" in *other/x*) not_ok "/api/repositories lists other/x" ;; *) ok "/api/repositories does not list other/x" ;; esac

stop_gateway
finish
