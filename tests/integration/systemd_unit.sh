#!/usr/bin/env bash
# contrib/cargoman.service as systemd would run it: its ExecStartPre (`cargoman check`) and
# ExecStart (`cargoman serve`) lines, read from the unit this build made, as an unprivileged
# user, in an empty working directory that user cannot write (systemd's default "/" under
# ProtectSystem=strict), with the installed layout and the shipped conf.d/. check writes
# nothing; serve answers /healthz and keeps its state in the StateDirectory.
. "$(dirname "$0")/lib.sh"
need curl python3
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to run the unit's commands as another user"; exit 77; }
command -v setpriv >/dev/null 2>&1 || { echo "SKIP: setpriv is not installed"; exit 77; }
UNIT=$CM_BUILDDIR/contrib/cargoman.service
[ -f "$UNIT" ] || make -s -C "$CM_BUILDDIR" contrib/cargoman.service

install_gateway
chmod 0755 "$TMP"
CWD=$TMP/cwd       # root's, 0755: nobody cannot write here
STATE=$TMP/state   # what StateDirectory=cargoman makes: the service user's
mkdir -p "$CWD" "$STATE"
chown 65534:65534 "$STATE"
PORT=$(free_port)

# unit_cmd KEY: the command of KEY= in the unit, each absolute path that exists in the install
# tree moved into it, /var/lib/cargoman onto $STATE. The binary's built-in plugin directory is
# the configured prefix's (not under DESTDIR), so -P points at the installed one.
unit_cmd() {
    local line word out=
    line=$(sed -n "s/^$1=//p" "$UNIT")
    [ -n "$line" ] || { not_ok "the unit has no $1= line"; return 1; }
    for word in $line; do
        case $word in
        /var/lib/cargoman) word=$STATE ;;
        /*) [ -e "$TMP/inst$word" ] && word=$TMP/inst$word ;;
        esac
        out="$out $word"
    done
    echo "$out -P $INST_PLUGINS"
}
# as_service CMD...: as the unit's User= would (nobody here), in $CWD, with the clean
# environment systemd gives a service (EnvironmentFile is optional and absent). It execs, so
# `as_service ... &` leaves $! the daemon's own pid.
as_service() {
    cd "$CWD" && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"
}
tree() { (cd "$1" && find . -mindepth 1 | sort); }

grep -q '^User=' "$UNIT" && ok "the unit runs as a dedicated user" || not_ok "the unit has no User="
pre=$(unit_cmd ExecStartPre) || exit 1
start=$(unit_cmd ExecStart) || exit 1
expect_contains "ExecStartPre is cargoman check" "$pre" "/cargoman check -c "
expect_contains "ExecStart is cargoman serve" "$start" "/cargoman serve -c "
expect_contains "the shipped conf.d from the install" "$pre" "$TMP/inst/"

conf_before=$(tree "$TMP/inst")
# shellcheck disable=SC2086
(as_service $pre) >"$TMP/check.log" 2>&1
rc=$?
expect_eq "ExecStartPre (check) succeeds as nobody in an empty directory" "$rc" 0
[ "$rc" -eq 0 ] || cat "$TMP/check.log"
expect_eq "check wrote nothing in the working directory" "$(tree "$CWD")" ""
expect_eq "check wrote nothing in the state directory" "$(tree "$STATE")" ""
expect_eq "check wrote nothing in the install tree" "$(tree "$TMP/inst")" "$conf_before"

# shellcheck disable=SC2086
as_service $start -l "127.0.0.1:$PORT" >"$TMP/gateway.log" 2>&1 &
GW_PID=$!
healthy() { curl -sf "http://127.0.0.1:$PORT/healthz"; }
if wait_for healthy; then ok "ExecStart (serve) answers /healthz as nobody"; else
    not_ok "serve did not come up"; cat "$TMP/gateway.log"; fi
# The composer plugin's start made its repository in the StateDirectory, not in the cwd.
if wait_for test -f "$STATE/composer/packages.json"; then ok "composer state made by start"; else
    not_ok "no $STATE/composer/packages.json"; fi
expect_eq "packages.json is served" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/packages.json")" 200
expect_eq "serve wrote nothing in the working directory" "$(tree "$CWD")" ""
kill -HUP "$GW_PID"
wait_for grep -q "configuration reloaded" "$TMP/gateway.log" && ok "SIGHUP reloads" || not_ok "no reload"
healthy >/dev/null && ok "healthy after SIGHUP" || not_ok "unhealthy after SIGHUP"
kill -TERM "$GW_PID"
wait "$GW_PID"
expect_eq "serve exits 0 on SIGTERM (the unit's KillSignal)" "$?" 0
GW_PID=
finish
