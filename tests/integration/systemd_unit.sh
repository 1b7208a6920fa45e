#!/usr/bin/env bash
# contrib/cargoman.service as systemd would run it: its ExecStartPre (`cargoman check`) and
# ExecStart (`cargoman serve`) lines, read from the unit this build made, as an unprivileged
# user, in an empty working directory that user cannot write (systemd's default "/" under
# ProtectSystem=strict), with the installed layout and the shipped conf.d/. check writes
# nothing; serve answers /healthz and keeps its state in the StateDirectory. The ExecReload
# lines check first, so a reload of a broken conf.d fails before any SIGHUP; a SIGHUP sent all
# the same is refused and counted in /metrics, a good one counted and timed. `make
# install-systemd` installs the unit and an env file (0640, never overwritten) at the path
# README.md gives.
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

# unit_cmd KEY [N]: the command of the Nth (1st) KEY= line in the unit, each absolute path that
# exists in the install tree moved into it, /var/lib/cargoman onto $STATE, $MAINPID the
# daemon's. The binary's built-in plugin directory is the configured prefix's (not under
# DESTDIR), so a cargoman command gets -P for the installed one.
unit_cmd() {
    local line word out= plugins=
    line=$(sed -n "s/^$1=//p" "$UNIT" | sed -n "${2:-1}p")
    [ -n "$line" ] || { not_ok "the unit has no $1= line"; return 1; }
    for word in $line; do
        case $word in
        /var/lib/cargoman) word=$STATE ;;
        '$MAINPID') word=$GW_PID ;;
        */cargoman) plugins=" -P $INST_PLUGINS" ;;
        esac
        case $word in /*) [ -e "$TMP/inst$word" ] && word=$TMP/inst$word ;; esac
        out="$out $word"
    done
    echo "$out$plugins"
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
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
reload_check=$(unit_cmd ExecReload 1) || exit 1
reload_hup=$(unit_cmd ExecReload 2) || exit 1
expect_contains "ExecReload checks the configuration first" "$reload_check" "/cargoman check -c "
expect_contains "then sends SIGHUP" "$reload_hup" "/bin/kill -HUP $GW_PID"
expect_eq "no reload counted yet" "$(metric 'cargoman_config_reloads_total{result="ok"}')" 0
started=$(metric cargoman_config_last_reload_success_timestamp_seconds)
[ "${started:-0}" -gt 0 ] && ok "the start's load is the last success" || not_ok "no reload time: '$started'"

# A good reload, as `systemctl reload` runs it: both lines, as the service user.
sleep 1 # the time is in whole seconds: let it move
# shellcheck disable=SC2086
(as_service $reload_check) >"$TMP/reload.log" 2>&1 && (as_service $reload_hup) >>"$TMP/reload.log" 2>&1
expect_eq "ExecReload succeeds on a good conf.d" "$?" 0
wait_for grep -q "configuration reloaded" "$TMP/gateway.log" && ok "SIGHUP reloads" || not_ok "no reload"
healthy >/dev/null && ok "healthy after SIGHUP" || not_ok "unhealthy after SIGHUP"
expect_eq "a good reload is counted" "$(metric 'cargoman_config_reloads_total{result="ok"}')" 1
last=$(metric cargoman_config_last_reload_success_timestamp_seconds)
[ "${last:-0}" -gt "$started" ] && ok "and sets the time of the last success" ||
    not_ok "reload time $last not after $started"

# A broken conf.d: ExecReload's check fails, so systemd would send no SIGHUP and report it.
CONFD=$(dirname "$(find "$TMP/inst" -path '*/conf.d/00-server.conf' | head -n1)")
echo 'server = { workers = ; };' >"$CONFD/50-broken.conf"
# shellcheck disable=SC2086
(as_service $reload_check) >"$TMP/reload-bad.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && ok "ExecReload fails on a broken conf.d" || not_ok "check accepted a broken conf.d"
expect_contains "and says where" "$(cat "$TMP/reload-bad.log")" "50-broken.conf:1: syntax error"
# A SIGHUP sent all the same: refused, counted, and the running configuration keeps serving.
kill -HUP "$GW_PID"
wait_for grep -q "keeping the running configuration" "$TMP/gateway.log" &&
    ok "the daemon refuses the broken reload" || not_ok "no refusal logged"
expect_eq "a refused reload is counted" "$(metric 'cargoman_config_reloads_total{result="refused"}')" 1
expect_eq "the last success keeps its time" "$(metric cargoman_config_last_reload_success_timestamp_seconds)" "$last"
healthy >/dev/null && ok "still serving after a refused reload" || not_ok "unhealthy after a refused reload"
rm "$CONFD/50-broken.conf"
kill -TERM "$GW_PID"
wait "$GW_PID"
expect_eq "serve exits 0 on SIGTERM (the unit's KillSignal)" "$?" 0
GW_PID=

# make install-systemd: the unit, and the env file once, 0640, where README.md says it is.
make -s -C "$CM_BUILDDIR" install-systemd DESTDIR="$TMP/sd" >"$TMP/sd.log" 2>&1 ||
    { cat "$TMP/sd.log"; not_ok "make install-systemd failed"; }
env_path=$(sed -n 's/^EnvironmentFile=-//p' "$UNIT")
cmp -s "$UNIT" "$(find "$TMP/sd" -path '*/systemd/system/cargoman.service' | head -n1)" &&
    ok "install-systemd installs the unit" || not_ok "no unit under $TMP/sd"
expect_eq "the env file is installed 0640" "$(stat -c %a "$TMP/sd$env_path" 2>&1)" 640
echo "GITHUB_WEBHOOK_SECRET=mine" >>"$TMP/sd$env_path"
make -s -C "$CM_BUILDDIR" install-systemd DESTDIR="$TMP/sd" >"$TMP/sd.log" 2>&1
expect_contains "a second install keeps the operator's env file" "$(cat "$TMP/sd$env_path")" \
    "GITHUB_WEBHOOK_SECRET=mine"
grep -q '^EnvironmentFile=-@sysconfdir@/default/cargoman$' "$CM_SRCDIR/contrib/cargoman.service.in" &&
    grep -q '$(sysconfdir)/default/cargoman' "$CM_SRCDIR/README.md" &&
    ok "README names the unit's env file" || not_ok "README and the unit disagree on the env file"
finish
