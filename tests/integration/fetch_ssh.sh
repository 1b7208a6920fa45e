#!/usr/bin/env bash
# SSH or HTTPS per endpoint (docs/mirrors.md, "SSH or HTTPS"): two endpoints on the same host,
# whose payloads name both an HTTP and an SSH clone URL. The one with an ssh_key of its own
# fetches over SSH (a real sshd on loopback, its own passphrase and known_hosts over git's),
# the one without fetches over HTTP (git http-backend behind lighttpd). Each repository exists
# only behind the server its endpoint must use, so a sync proves which one it took.
# `cargoman check` shows each endpoint's fetch URL form and credentials, never the passphrase.
. "$(dirname "$0")/lib.sh"
need curl python3 git ssh-keygen /usr/sbin/sshd /usr/sbin/lighttpd
[ -x /usr/lib/git-core/git-http-backend ] || { echo "SKIP: git-http-backend is not installed"; exit 77; }

install_gateway
# Under -fsanitize=address: libgit2 1.5.1's SSH transport leaks a few bytes per connection
# (as tests/check_mirror.c says); nothing of ours is allocated under these frames, which those
# libraries only show with full unwinding.
printf 'leak:libssh2_knownhost_init\nleak:libssh2_userauth_list\nleak:git_remote_connect_ext\n' \
    >"$TMP/lsan.supp"
export LSAN_OPTIONS="suppressions=$TMP/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
USER_NAME=$(id -un)
PASSPHRASE="ep pass phrase 7"

# sshd on a free loopback port, accepting only the endpoint's key, serving $TMP/ssh-root.
SPORT=$(free_port)
mkdir -p "$TMP/ssh-root" "$TMP/http-root"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C test-host -f "$TMP/host_key"
ssh-keygen -q -t ed25519 -N "$PASSPHRASE" -C endpoint-key -f "$TMP/ep_key"
cat >"$TMP/sshd_config" <<CONF
Port $SPORT
ListenAddress 127.0.0.1
HostKey $TMP/host_key
PidFile $TMP/sshd.pidfile
AuthorizedKeysFile $TMP/ep_key.pub
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
CONF
/usr/sbin/sshd -D -e -f "$TMP/sshd_config" >"$TMP/sshd.log" 2>&1 &
echo $! >"$TMP/sshd-main.pid"
wait_until 10 python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $SPORT), 1)" || {
    cat "$TMP/sshd.log"; echo "sshd did not start"; exit 1; }
# The endpoint's own known_hosts lists the host; git's (the global default) is empty, so only
# the endpoint's override lets the SSH fetch through.
echo "[127.0.0.1]:$SPORT $(cut -d' ' -f1,2 "$TMP/host_key.pub")" >"$TMP/ep_known_hosts"
: >"$TMP/git_known_hosts"
start_git_http "$TMP/http-root"

# repo ROOT NAME: a bare acme/NAME under ROOT with one commit on main; prints the commit.
repo() {
    git init -q --bare "$1/acme/$2.git"
    git -C "$1/acme/$2.git" symbolic-ref HEAD refs/heads/main
    git init -q -b main "$TMP/work/$2"
    git -C "$TMP/work/$2" -c user.email=t@example.com -c user.name=t commit -q --allow-empty -m one
    git -C "$TMP/work/$2" push -q "$1/acme/$2.git" main
    git -C "$TMP/work/$2" rev-parse main
}
# payload NAME NEW: a GitHub push naming both clone URLs of acme/NAME, into $TMP/NAME.json.
payload() {
    python3 - "$1" "$2" "$LPORT" "$USER_NAME" "$SPORT" "$TMP/ssh-root" >"$TMP/$1.json" <<'PY'
import json, sys, zlib
name, new, lport, user, sport, root = sys.argv[1:7]
repo = "acme/" + name
print(json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": new, "created": True,
  "deleted": False, "forced": False, "compare": "", "pusher": {"name": "t"},
  "sender": {"login": "t"}, "repository": {"id": zlib.crc32(repo.encode()), "full_name": repo,
  "clone_url": "http://127.0.0.1:%s/git/%s.git" % (lport, repo),
  "ssh_url": "ssh://%s@127.0.0.1:%s%s/%s.git" % (user, sport, root, repo),
  "html_url": "http://127.0.0.1:%s/%s" % (lport, repo)}}))
PY
}
mirror_head() { git --git-dir="$TMP/data/mirrors/$1/acme/$2.git" rev-parse refs/heads/main 2>/dev/null; }
synced() { [ "$(mirror_head "$1" "$2")" = "$3" ]; }

viassh=$(repo "$TMP/ssh-root" viassh)
viahttp=$(repo "$TMP/http-root" viahttp)

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; };
git = { ssh_known_hosts = "$TMP/git_known_hosts"; };
CONF
cat >"$TMP/conf/10-endpoints.conf" <<CONF
endpoints = (
  { name = "gh-ssh"; provider = "github"; url = "http://127.0.0.1:$LPORT/git";
    ssh_url = "ssh://$USER_NAME@127.0.0.1:$SPORT$TMP/ssh-root"; ssh_key = "$TMP/ep_key";
    ssh_passphrase = "$PASSPHRASE"; ssh_known_hosts = "$TMP/ep_known_hosts"; },
  { name = "gh-http"; provider = "github"; url = "http://127.0.0.1:$LPORT/git";
    ssh_url = "ssh://$USER_NAME@127.0.0.1:$SPORT$TMP/ssh-root"; }
);
CONF

out=$("$INST_BIN" check -c "$TMP/conf" -P "$INST_PLUGINS" 2>&1)
expect_eq "check of two endpoints, one with its own key, exits 0" "$?" 0
expect_contains "check shows the SSH endpoint's fetch form and key" "$out" \
    "fetch    ssh://$USER_NAME@127.0.0.1:$SPORT$TMP/ssh-root/... (the payload's SSH clone URL) (key $TMP/ep_key, known_hosts $TMP/ep_known_hosts)"
expect_contains "check shows the HTTP endpoint's fetch form" "$out" \
    "fetch    http://127.0.0.1:$LPORT/git/{repository}.git (no credentials)"
case $out in *"$PASSPHRASE"*) not_ok "check prints the passphrase" ;; *) ok "check never prints the passphrase" ;; esac

start_gateway "$TMP/conf" "$TMP/data"
payload viassh "$viassh"
payload viahttp "$viahttp"
r=$(post gh-ssh "$TMP/viassh.json" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: ssh-1')
expect_eq "push to the SSH endpoint accepted" "${r%% *}" 202
r=$(post gh-http "$TMP/viahttp.json" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: http-1')
expect_eq "push to the HTTP endpoint accepted" "${r%% *}" 202
if wait_for synced gh-ssh viassh "$viassh"; then
    ok "the endpoint with an ssh_key fetched over SSH, with its own passphrase and known_hosts"
else
    not_ok "the SSH endpoint did not sync: $(grep viassh "$TMP/gateway.log" | tail -n 2)"
fi
if wait_for synced gh-http viahttp "$viahttp"; then
    ok "the endpoint without a key fetched over HTTP"
else
    not_ok "the HTTP endpoint did not sync: $(grep viahttp "$TMP/gateway.log" | tail -n 2)"
fi
case $(cat "$TMP/gateway.log") in
*"$PASSPHRASE"*) not_ok "the log holds the passphrase" ;;
*) ok "the log never holds the passphrase" ;;
esac
stop_gateway
finish
