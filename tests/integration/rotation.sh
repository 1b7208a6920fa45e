#!/usr/bin/env bash
# Secret rotation against the real daemon with no delivery refused: a sender posts signed
# pushes without pause while the endpoint goes from secrets = ["old"] to ["new", "old"]
# (SIGHUP), the sender switches to "new", and the endpoint drops "old" (SIGHUP). Every
# delivery is answered 202; afterwards one signed with "old" is refused 401.
. "$(dirname "$0")/lib.sh"
need curl python3

install_gateway
mkdir -p "$TMP/conf"
# Fetches go to a closed loopback port: this test needs no git server, only the answers.
conf() {
    cat >"$TMP/conf/10-gh.conf" <<CONF
endpoint = { name = "gh"; provider = "github"; secrets = [ $1 ];
             clone_url = "git://127.0.0.1:1/{repository}.git"; };
CONF
}
conf '"old"'
start_gateway "$TMP/conf" "$TMP/data"

github_push o/r 2222222222222222222222222222222222222222 >"$TMP/push.json"
# sign SECRET FILE: the X-Hub-Signature-256 GitHub would send.
sign() { "$INST_BIN" sign -P "$INST_PLUGINS" -p github -s "$1" "$2" | sed -n 's/^X-Hub-Signature-256: //p'; }
reloaded() { [ "$(grep -c "SIGHUP: configuration reloaded" "$TMP/gateway.log")" -ge "$1" ]; }
results() { wc -l <"$TMP/results"; }
at_least() { [ "$(grep -c "${2:-}" "$TMP/results")" -ge "$1" ]; }

# The sender: one delivery after the other, each a new push (a repeated one would be answered
# 200 as already queued) with its own id, signed with the secret named in $TMP/use; it writes
# "<secret> <status>" per delivery.
echo old >"$TMP/use"
: >"$TMP/results"
(
    i=0
    while [ ! -e "$TMP/stop" ]; do
        i=$((i + 1))
        s=$(cat "$TMP/use")
        sed "s/2222222222222222222222222222222222222222/$(printf '%040x' "$i")/" \
            "$TMP/push.json" >"$TMP/push.$i.json"
        code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
            "http://127.0.0.1:$PORT/api/webhooks/gh" -H 'Content-Type: application/json' \
            -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: rot-$i" \
            -H "X-Hub-Signature-256: $(sign "$s" "$TMP/push.$i.json")" \
            --data-binary "@$TMP/push.$i.json")
        echo "$s $code" >>"$TMP/results"
        rm -f "$TMP/push.$i.json"
    done
) &
SENDER=$!
echo "$SENDER" >"$TMP/sender.pid"

wait_for at_least 5 "^old " && ok "the sender posts with the old secret" ||
    not_ok "the sender did not get going"
# Step 1: both secrets.
conf '"new", "old"'
run_check=$("$INST_BIN" check -c "$TMP/conf" -P "$INST_PLUGINS" 2>&1)
expect_contains "check counts the endpoint's secrets" "$run_check" "signed=yes (2 secrets)"
kill -HUP "$GW_PID"
if wait_for reloaded 1; then
    ok "reloaded with [new, old]"
else
    not_ok "no reload after the first SIGHUP"
fi
n=$(results)
wait_for at_least $((n + 5)) && ok "old still accepted beside new" || not_ok "the sender stalled"
# Step 2: the sender (the git host) switches to the new secret.
echo new >"$TMP/use"
wait_for at_least 5 "^new " && ok "the sender posts with the new secret" ||
    not_ok "the sender did not switch"
# Step 3: the old secret goes.
conf '"new"'
kill -HUP "$GW_PID"
if wait_for reloaded 2; then
    ok "reloaded with [new]"
else
    not_ok "no reload after the second SIGHUP"
fi
n=$(results)
wait_for at_least $((n + 5)) && ok "deliveries go on after the old secret is gone" ||
    not_ok "the sender stalled after the second reload"
touch "$TMP/stop"
wait "$SENDER"

total=$(results)
refused=$(grep -vc ' 202$' "$TMP/results")
expect_eq "none of the $total deliveries of the rotation was refused" "$refused" 0
[ "$refused" = 0 ] || grep -v ' 202$' "$TMP/results" | sort | uniq -c

sed 's/2222222222222222222222222222222222222222/e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0/' \
    "$TMP/push.json" >"$TMP/after.json"
r=$(post gh "$TMP/after.json" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: rot-after-old' \
    -H "X-Hub-Signature-256: $(sign old "$TMP/after.json")")
expect_eq "a delivery signed with the old secret after the rotation is 401" "${r%% *}" 401
r=$(post gh "$TMP/after.json" -H 'X-GitHub-Event: push' -H 'X-GitHub-Delivery: rot-after-new' \
    -H "X-Hub-Signature-256: $(sign new "$TMP/after.json")")
expect_eq "one signed with the new secret is 202" "${r%% *}" 202
stop_gateway
finish
