#!/usr/bin/env bash
# Faults that a healthy machine never produces, injected into the real daemon with gdb: a
# breakpoint makes one function return its failure, and the test checks what the gateway then
# does. Out of memory while setting up the repository status or the metrics: `serve` exits 1
# with a message of its own. Out of memory while copying a request's headers: that request gets
# 500, and the next one is served. Claims out of memory: back-off, counted, then syncing.
# Every worker's claim failing for good: /healthz answers 503
# "no sync worker is alive", webhooks are still stored, and a restart syncs them.
. "$(dirname "$0")/lib.sh"
need curl python3 git gdb
[ "${CM_VALGRIND:-0}" = 1 ] && { echo "SKIP: gdb and valgrind cannot both trace the daemon"; exit 77; }

install_gateway
# The return values below are the SDK's enum cm_status (include/cargoman/plugin.h):
# CM_ERROR = -1, CM_ENOMEM = -2. Numbers, not names, so a build without debug info works too.
gdb -q -nx -batch -ex 'info functions ^cm_spool_op_claim$' "$INST_BIN" 2>/dev/null | grep -q cm_spool_op_claim ||
    { echo "SKIP: the installed cargoman has no symbols for gdb"; exit 77; }
probe=$(gdb -q -nx -batch -ex 'run' --args /bin/true 2>&1)
case $probe in
*"exited normally"*) ;;
*) echo "SKIP: gdb cannot run a program here (ptrace refused?): $probe"; exit 77 ;;
esac

start_git_daemon
new_repo_at acme/inj "$TMP/work/inj"
echo 1 >"$TMP/work/inj/f" && git -C "$TMP/work/inj" add f && git -C "$TMP/work/inj" commit -qm c1
git -C "$TMP/work/inj" push -q origin main
TIP=$(git -C "$TMP/work/inj" rev-parse main)

mkdir -p "$TMP/conf"
cat >"$TMP/conf/10-endpoint.conf" <<CONF
endpoint = { name = "github"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF

# gdb_script FUNCTION VALUE [CONDITION [TIMES]]: a gdb script that runs the daemon and makes
# calls of FUNCTION (those where CONDITION holds; the first TIMES of them, or all) return VALUE
# at once.
gdb_script() {
    cat <<GDB
set confirm off
set pagination off
set print thread-events off
handle SIGTERM SIGHUP SIGINT SIGPIPE SIGUSR1 SIGUSR2 nostop noprint pass
set \$times = ${4:--1}
break $1 ${3:+if $3}
commands
silent
if \$times != 0
set \$times = \$times - 1
return (int)$2
end
continue
end
run
quit \$_exitcode
GDB
}

# serve_under_gdb SCRIPT: `cargoman serve` in the background under gdb with SCRIPT; GDB_PID
# is gdb's pid, and daemon_pid prints the daemon's.
serve_under_gdb() {
    PORT=$(free_port)
    # LeakSanitizer cannot run under ptrace: a sanitizer build checks leaks elsewhere.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        gdb -q -nx -batch -x "$1" --args "$INST_BIN" serve -c "$TMP/conf" -d "$TMP/data" \
        -l "127.0.0.1:$PORT" -P "$INST_PLUGINS" >"$TMP/gdb.log" 2>&1 &
    GDB_PID=$!
}
daemon_pid() { pgrep -P "$GDB_PID" -x cargoman; }
healthz() { curl -s -o "$TMP/healthz" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz"; }
answering() { [ "$(healthz)" != 000 ]; }
# stop_under_gdb: SIGTERM to the daemon (not to gdb, which would kill it); gdb's exit is the
# daemon's.
stop_under_gdb() {
    local rc=0
    kill -TERM "$(daemon_pid)"
    wait "$GDB_PID" || rc=$?
    expect_eq "$1: the daemon exits cleanly on SIGTERM" "$rc" 0
    GDB_PID=
}
hook() {
    github_push acme/inj "$TIP" >"$TMP/hook.json"
    curl -s -o "$TMP/answer" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/webhooks/github" \
        -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H "X-GitHub-Delivery: inj-$1" "${@:2}" --data-binary "@$TMP/hook.json"
}
mirror_head() { git --git-dir="$TMP/data/mirrors/github/acme/inj.git" rev-parse refs/heads/main 2>/dev/null; }
synced() { [ "$(mirror_head)" = "$TIP" ]; }

# 1-2. Set-up fails for want of memory: one line naming the step, exit 1, no garbage (the
#      message used to print an `err` buffer nothing had written).
for step in "cm_activity_new:the repository status" "cm_metrics_new:the metrics"; do
    fn=${step%%:*}
    gdb_script "$fn" -2 >"$TMP/setup.gdb"
    serve_under_gdb "$TMP/setup.gdb"
    rc=0
    wait "$GDB_PID" || rc=$?
    GDB_PID=
    expect_eq "$fn fails: serve exits 1" "$rc" 1
    line=$(grep '^cargoman: ' "$TMP/gdb.log")
    expect_eq "$fn fails: it says which step" "$line" "cargoman: out of memory setting up ${step#*:}"
    if LC_ALL=C grep -q '[^[:print:][:space:]]' "$TMP/gdb.log"; then
        not_ok "$fn fails: the output holds bytes that are not text"
    else
        ok "$fn fails: the output is plain text"
    fi
done

# 3. Out of memory while copying one request's headers (MHD's iterator cannot report it; the
#    callback's own status is checked): 500 for that request, a log line, the next is served.
gdb_script cm_request_add_header -2 '$_streq(name, "X-Cm-Fault")' >"$TMP/headers.gdb"
serve_under_gdb "$TMP/headers.gdb"
wait_until 60 answering || { cat "$TMP/gdb.log"; echo "the daemon under gdb did not start"; exit 1; }
expect_eq "headers cannot be copied: 500" "$(hook h1 -H 'X-Cm-Fault: 1')" 500
expect_contains "the answer says why" "$(cat "$TMP/answer")" "out of memory"
expect_contains "the log says why" "$(cat "$TMP/gdb.log")" "out of memory copying a request's headers"
expect_eq "the next delivery is accepted" "$(hook h2)" 202
if wait_for synced; then ok "and synced"; else not_ok "the delivery after the fault was not synced"; fi
stop_under_gdb "header fault"

# 4. Claims fail for want of memory, six times: each worker logs it once, backs off, is
#    counted, and claims again; the push is synced.
rm -rf "$TMP/data"
gdb_script cm_spool_op_claim -2 1 6 >"$TMP/nomem.gdb"
serve_under_gdb "$TMP/nomem.gdb"
wait_until 60 answering || { cat "$TMP/gdb.log"; echo "the daemon under gdb did not start"; exit 1; }
expect_eq "claims out of memory: a push is accepted" "$(hook m1)" 202
if wait_for synced; then ok "and synced once claims succeed again"; else not_ok "not synced after claim ENOMEM"; fi
log=$(cat "$TMP/gdb.log")
expect_contains "the log says why the workers wait" "$log" "cannot claim a job (out of memory); backing off"
expect_contains "and when they claim again" "$log" "claiming jobs again"
claim_errors=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^cargoman_queue_claim_errors_total //p')
expect_eq "/metrics counts the six failed claims" "$claim_errors" 6
stop_under_gdb "claim ENOMEM"

# 5. Every worker's claim fails for good, the one answer that ends a worker: /healthz turns
#    503 with the reason. Webhooks are still stored durably, and a restart (without gdb)
#    syncs them: nothing acknowledged is lost.
rm -rf "$TMP/data"
echo 2 >"$TMP/work/inj/f" && git -C "$TMP/work/inj" commit -qam c2 && git -C "$TMP/work/inj" push -q origin main
TIP=$(git -C "$TMP/work/inj" rev-parse main)
gdb_script cm_spool_op_claim -1 >"$TMP/claim.gdb"
serve_under_gdb "$TMP/claim.gdb"
wait_until 60 answering || { cat "$TMP/gdb.log"; echo "the daemon under gdb did not start"; exit 1; }
unhealthy() { [ "$(healthz)" = 503 ]; }
if wait_for unhealthy; then ok "no worker left: /healthz answers 503"; else not_ok "/healthz: $(healthz)"; fi
expect_eq "/healthz gives the reason" "$(cat "$TMP/healthz")" "no sync worker is alive; restart the gateway"
expect_eq "a webhook is still stored: 202" "$(hook w1)" 202
stop_under_gdb "no workers"
if synced; then not_ok "synced although no worker ran"; else ok "nothing synced while no worker ran"; fi
start_gateway "$TMP/conf" "$TMP/data"
if wait_for synced; then ok "after a restart the stored webhook is synced"; else not_ok "not synced after the restart"; fi
expect_eq "/healthz is ok again" "$(healthz)" 200
stop_gateway
finish
