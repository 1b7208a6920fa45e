#!/usr/bin/env bash
# The data directory fails under the daemon, for real: a 3 MB tmpfs that fills up (ENOSPC),
# then a data directory whose write permission is taken away. While it lasts a webhook gets 503
# with Retry-After or a 202 whose event is on disk, /healthz answers, and once space or write
# access returns every 202 ends synced. A file system that turns read-only (EROFS) is
# faults_readonly.sh. Needs root (mount); `make check-faults` runs it.
. "$(dirname "$0")/lib.sh"
need curl python3 git
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to mount a tmpfs"; exit 77; }
command -v setpriv >/dev/null 2>&1 || { echo "SKIP: setpriv is not installed"; exit 77; }

DATA=$TMP/data
mkdir -p "$DATA"
# The daemon runs as nobody: root would write through the permission bits of step 2.
mount -t tmpfs -o size=3m,mode=0750,uid=65534,gid=65534 tmpfs "$DATA" ||
    { echo "SKIP: cannot mount a tmpfs here"; exit 77; }
disk_cleanup() {
    [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    GW_PID=
    umount "$DATA" 2>/dev/null || umount -l "$DATA"
    cleanup
}
trap disk_cleanup EXIT

install_gateway
chmod 0755 "$TMP"
# HOME stays the caller's (/root, which nobody cannot read): fetching must not need it.
cat >"$TMP/as-nobody" <<SH
#!/bin/sh
exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$INST_BIN" "\$@"
SH
chmod 0755 "$TMP/as-nobody"
INST_BIN=$TMP/as-nobody
start_git_daemon

# A repository with 40 commits; hook I announces commit I, so no two hooks are duplicates.
# push_upto I: the host gets commits up to I, so the fetch a hook causes has objects to write.
new_repo_at acme/disk "$TMP/work/disk"
for i in $(seq 1 40); do
    echo "$i" >"$TMP/work/disk/stamp"
    git -C "$TMP/work/disk" add stamp && git -C "$TMP/work/disk" commit -qm "c$i"
done
commit_no() { git -C "$TMP/work/disk" rev-parse "main~$((40 - $1))"; }
push_upto() { git -C "$TMP/work/disk" push -q origin "$(commit_no "$1"):refs/heads/main"; }
push_upto 1

# hook I: deliver the push of commit I; sets CODE and keeps the headers in $TMP/headers.
hook() {
    github_push acme/disk "$(commit_no "$1")" >"$TMP/hook.json"
    CODE=$(curl -s -D "$TMP/headers" -o /dev/null -w '%{http_code}' -X POST \
        "http://127.0.0.1:$PORT/api/webhooks/github" -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: disk-$1-$RANDOM" \
        --data-binary "@$TMP/hook.json")
}
MIRROR=$DATA/mirrors/github/acme/disk.git
in_mirror() { git -c safe.directory="*" --git-dir="$MIRROR" cat-file -e "$(commit_no "$1")^{commit}" 2>/dev/null; }
# all_synced I...: every one of these commits is in the mirror.
all_synced() {
    for i in "$@"; do in_mirror "$i" || return 1; done
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
spool_empty() { [ "$(metric cargoman_spool_depth)" = 0 ]; }
# retries: how many retries the log has given so far.
retries() { grep -c 'acme/disk: .*retrying in' "$TMP/gateway.log"; }
retried_since() { [ "$(retries)" -gt "$1" ]; }
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz"; }
ACKED=
N=0
# hooks_while_broken WHAT: deliver hooks until one is refused (at most 10); every answer must
# be 202 (kept in ACKED) or 503 with Retry-After. Sets REFUSED to the number of 503s.
hooks_while_broken() {
    local bad=0
    REFUSED=0
    for _ in $(seq 1 10); do
        N=$((N + 1))
        hook "$N"
        case $CODE in
        202) ACKED="$ACKED $N" ;;
        503)
            REFUSED=$((REFUSED + 1))
            grep -qi '^Retry-After: *[0-9]' "$TMP/headers" || bad=1
            break
            ;;
        *) bad=1 ;;
        esac
    done
    expect_eq "$1: every answer is 202 or 503 with Retry-After" "$bad" 0
}

mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; };
CONF
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
start_gateway "$TMP/conf" "$DATA"

N=1
hook 1
expect_eq "push accepted on a healthy disk" "$CODE" 202
ACKED=1
if wait_until 30 all_synced 1; then ok "and synced"; else not_ok "first push not synced"; fi

# 1. Disk full.
push_upto 20
before=$(retries)
dd if=/dev/zero of="$DATA/filler" bs=64k >/dev/null 2>&1
expect_eq "the tmpfs is full" "$(df --output=avail "$DATA" | tail -n1 | tr -d ' ')" 0
hooks_while_broken "disk full"
expect_eq "disk full: a webhook is refused with 503" "$REFUSED" 1
expect_contains "the log says why" "$(cat "$TMP/gateway.log")" "cannot store the event durably"
expect_eq "/healthz still answers" "$(healthz)" 200
if wait_until 30 retried_since "$before"; then
    ok "the sync that cannot write its mirror is retried: $(grep 'retrying in' "$TMP/gateway.log" | tail -n1 | sed 's/.*acme.disk: //')"
else
    not_ok "no retry logged while the disk was full"
fi
rm -f "$DATA/filler"
N=$((N + 1))
hook "$N"
expect_eq "space back: the next webhook gets 202" "$CODE" 202
ACKED="$ACKED $N"
# shellcheck disable=SC2086
if wait_until 60 all_synced $ACKED; then
    ok "every 202 is synced after the disk had space again ($ACKED)"
else
    not_ok "not synced after ENOSPC:$(for i in $ACKED; do in_mirror "$i" || printf ' %s' "$i"; done)"
fi

# 2. The data directory loses its write permission (an operator's chown or chmod gone wrong).
#    The journal's open descriptor still takes records and their fsync, so a 202 stays a kept
#    promise; what cannot be written (mirrors, a compaction) fails and is retried.
push_upto 40
before=$(retries)
chmod -R a-w "$DATA"
hooks_while_broken "unwritable data directory"
expect_eq "/healthz still answers" "$(healthz)" 200
if wait_until 30 retried_since "$before"; then ok "the sync that cannot write its mirror is retried"; else not_ok "no retry logged"; fi
chmod -R u+w "$DATA"
N=$((N + 1))
hook "$N"
expect_eq "writable again: the next webhook gets 202" "$CODE" 202
ACKED="$ACKED $N"
# shellcheck disable=SC2086
if wait_until 60 all_synced $ACKED; then
    ok "every 202 is synced after the directory was writable again"
else
    not_ok "not synced after the directory was unwritable:$(for i in $ACKED; do in_mirror "$i" || printf ' %s' "$i"; done)"
fi
expect_eq "nothing was given up" "$(grep -c 'giving up' "$TMP/gateway.log")" 0

# 3. A restart reads the journal written through both faults: nothing is left queued, and the
#    daemon serves on.
if wait_until 30 spool_empty; then ok "the spool is empty"; else not_ok "spool depth $(metric cargoman_spool_depth)"; fi
stop_gateway
start_gateway "$TMP/conf" "$DATA"
expect_contains "the restart finds nothing queued" "$(grep 'listening on' "$TMP/gateway.log" | tail -n1)" "0 queued"
N=$((N + 1))
hook "$N"
expect_eq "after a restart on the same disk: 202" "$CODE" 202
ACKED="$ACKED $N"
# shellcheck disable=SC2086
if wait_until 60 all_synced $ACKED; then ok "and synced"; else not_ok "not synced after the restart"; fi
stop_gateway
finish
