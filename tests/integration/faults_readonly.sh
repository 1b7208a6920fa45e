#!/usr/bin/env bash
# The data directory turns read-only under the running daemon, the way a real one does: an
# ext4 file system on a loop device, mounted errors=remount-ro, hits an error (the kernel's own
# trigger_fs_error switch) and every write to it fails with EROFS from then on. Webhooks then
# get 503 with Retry-After, never a 202 that is not on disk. The kernel lets such a file system
# be written again only after an unmount and fsck, so the operator's way back is what the test
# does next: stop, fsck, mount, start. Every 202 given before the fault is synced after it.
# Needs root and a loop device; `make check-faults` runs it.
. "$(dirname "$0")/lib.sh"
need curl python3 git mkfs.ext4 e2fsck losetup
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to mount a loop device"; exit 77; }

DATA=$TMP/data
LOOP=
mkdir -p "$DATA"
truncate -s 64M "$TMP/data.img"
mkfs.ext4 -q -F "$TMP/data.img" >/dev/null 2>&1 || { echo "SKIP: mkfs.ext4 failed"; exit 77; }
LOOP=$(losetup -f --show "$TMP/data.img" 2>/dev/null) || { echo "SKIP: no loop device here"; exit 77; }
ro_cleanup() {
    [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    GW_PID=
    umount "$DATA" 2>/dev/null || umount -l "$DATA" 2>/dev/null
    [ -n "$LOOP" ] && losetup -d "$LOOP"
    cleanup
}
trap ro_cleanup EXIT
mount_data() { mount -o errors=remount-ro "$LOOP" "$DATA"; }
mount_data || { echo "SKIP: cannot mount ext4 from a loop device here"; exit 77; }
TRIGGER=/sys/fs/ext4/$(basename "$LOOP")/trigger_fs_error
[ -w "$TRIGGER" ] || { echo "SKIP: this kernel has no $TRIGGER"; exit 77; }

install_gateway
start_git_daemon
new_repo_at acme/ro "$TMP/work/ro"
for i in $(seq 1 6); do
    echo "$i" >"$TMP/work/ro/stamp"
    git -C "$TMP/work/ro" add stamp && git -C "$TMP/work/ro" commit -qm "c$i"
done
commit_no() { git -C "$TMP/work/ro" rev-parse "main~$((6 - $1))"; }
push_upto() { git -C "$TMP/work/ro" push -q origin "$(commit_no "$1"):refs/heads/main"; }
MIRROR=$DATA/mirrors/github/acme/ro.git
in_mirror() { git -c safe.directory="*" --git-dir="$MIRROR" cat-file -e "$(commit_no "$1")^{commit}" 2>/dev/null; }
hook() {
    github_push acme/ro "$(commit_no "$1")" >"$TMP/hook.json"
    CODE=$(curl -s -D "$TMP/headers" -o /dev/null -w '%{http_code}' -X POST \
        "http://127.0.0.1:$PORT/api/webhooks/github" -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: ro-$1-$RANDOM" \
        --data-binary "@$TMP/hook.json")
}

mkdir -p "$TMP/conf"
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
start_gateway "$TMP/conf" "$DATA"

push_upto 1
hook 1
expect_eq "a push on a writable disk: 202" "$CODE" 202
if wait_for in_mirror 1; then ok "and synced"; else not_ok "the first push was not synced"; fi

# The push of commit 2 is acknowledged but its sync is held back: its commit is not on the
# host yet, so the 202 is only in the journal when the file system fails.
hook 2
expect_eq "a push acknowledged before the fault: 202" "$CODE" 202

echo 1 >"$TRIGGER"
ro_now() { ! touch "$DATA/probe" 2>/dev/null; }
if wait_for ro_now; then ok "the data directory is read-only ($(grep " $DATA " /proc/mounts | cut -d' ' -f4))"; else not_ok "the file system did not turn read-only"; fi

bad=0
refused=0
for n in 3 4 5; do
    hook "$n"
    case $CODE in
    503)
        refused=$((refused + 1))
        grep -qi '^Retry-After: *[0-9]' "$TMP/headers" || bad=1
        ;;
    *) bad=1 ;;
    esac
done
expect_eq "read-only: every webhook gets 503 with Retry-After" "$bad.$refused" "0.3"
expect_contains "the log says why" "$(cat "$TMP/gateway.log")" "cannot store the event durably"
expect_eq "/healthz still answers" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" 200

# The way back: stop the daemon, check the file system, mount it again, start.
kill -TERM "$GW_PID"
rc=0
wait "$GW_PID" || rc=$?
GW_PID=
expect_eq "SIGTERM on a read-only data directory still exits 0" "$rc" 0
umount "$DATA"
fsck_rc=0
e2fsck -fy "$LOOP" >"$TMP/fsck.log" 2>&1 || fsck_rc=$?
[ "$fsck_rc" -le 1 ] && ok "fsck repairs the file system (exit $fsck_rc)" ||
    { cat "$TMP/fsck.log"; not_ok "fsck exit $fsck_rc"; }
mount_data
push_upto 6
start_gateway "$TMP/conf" "$DATA"
if wait_for in_mirror 2; then ok "the push acknowledged before the fault is synced after it"; else not_ok "push 2 lost"; fi
hook 6
expect_eq "writable again: 202" "$CODE" 202
if wait_for in_mirror 6; then ok "and synced"; else not_ok "push 6 not synced"; fi
stop_gateway
finish
