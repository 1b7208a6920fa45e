#!/usr/bin/env bash
# Reconciliation (issue 10, point 1): a push whose webhook never came reaches the Composer
# repository within server.reconcile_interval, through the real composer client; interval 0
# does nothing while an endpoint's own interval still works.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer unzip

install_gateway
start_git_daemon
W="$TMP/work/foo"
new_repo_at acme/foo "$W"
cat >"$W/composer.json" <<'JSON'
{"name": "acme/foo", "description": "test package", "type": "library", "license": "MIT"}
JSON
echo 1 >"$W/v" && git -C "$W" add -A && git -C "$W" commit -qm one && git -C "$W" tag v1.0.0
git -C "$W" push -q origin main v1.0.0
B="$TMP/work/bar"
new_repo_at acme/bar "$B"
echo 1 >"$B/v" && git -C "$B" add -A && git -C "$B" commit -qm one && git -C "$B" push -q origin main

# reconcile off server-wide; the endpoint "ctl" turns it on for itself (every second).
server_conf() { echo "server = { workers = 2; reconcile_interval = $1; };" >"$TMP/conf/00-server.conf"; }
mkdir -p "$TMP/conf"
server_conf 0
cat >"$TMP/conf/20-ctl.conf" <<CONF
endpoint = { name = "ctl"; provider = "github"; url = "https://github.com";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; reconcile_interval = 1; };
CONF
start_composer_gateway github github https://github.com

hook() { # ENDPOINT REPO REF NEW: a GitHub push creating REF
    python3 - "$2" "$3" "$4" >"$TMP/hook.json" <<'PY'
import json, sys, zlib
repo, ref, new = sys.argv[1:4]
print(json.dumps({"ref": ref, "before": "0" * 40, "after": new, "created": True, "deleted": False,
  "forced": False, "compare": "", "pusher": {"name": "t"}, "sender": {"login": "t"},
  "repository": {"id": zlib.crc32(repo.encode()), "full_name": repo, "clone_url": "https://github.com/%s.git" % repo,
  "ssh_url": "git@github.com:%s.git" % repo, "html_url": "https://github.com/" + repo}}))
PY
    post "$1" "$TMP/hook.json" -H "X-GitHub-Event: push" -H "X-GitHub-Delivery: rc-$(date +%s%N)"
}
p2_has() { curl -sf "http://127.0.0.1:$PORT/p2/acme/$1.json" | grep -q "\"$2\""; }
metric() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
metric_ge() { [ "$(metric "$1")" -ge "$2" ] 2>/dev/null; }
mirror_has() { git -C "$TMP/data/mirrors/$1.git" rev-parse -q --verify "$2" >/dev/null; }

r=$(hook github acme/foo refs/tags/v1.0.0 "$(git -C "$W" rev-parse v1.0.0)")
expect_eq "webhook for v1.0.0 queued" "${r%% *}" 202
r=$(hook ctl acme/bar refs/heads/main "$(git -C "$B" rev-parse main)")
expect_eq "webhook for bar queued" "${r%% *}" 202
if wait_for p2_has foo v1.0.0; then ok "v1.0.0 published after its webhook"; else not_ok "v1.0.0 not published"; fi
wait_for mirror_has ctl/acme/bar main || not_ok "bar not mirrored"

# (c) Pushes without webhooks while the gateway runs: ctl (interval 1) catches bar's; the
# github endpoint (server-wide 0) must not look at foo. Wait until ctl was checked at least
# three times after the drift, so foo would have been checked too if it were on.
echo 2 >"$B/v" && git -C "$B" commit -qam two && git -C "$B" tag v2 && git -C "$B" push -q origin main v2
echo 2 >"$W/v" && git -C "$W" commit -qam two && git -C "$W" tag v1.1.0 && git -C "$W" push -q origin main v1.1.0
if wait_for mirror_has ctl/acme/bar refs/tags/v2; then ok "an endpoint's own reconcile_interval catches a push without webhook"; else not_ok "bar's v2 not caught"; fi
same0=$(metric 'cargoman_reconcile_checks_total{result="same"}')
wait_for metric_ge 'cargoman_reconcile_checks_total{result="same"}' $((same0 + 3)) ||
    not_ok "ctl not checked again"
expect_eq "interval 0: foo was never checked (one drift, bar's)" "$(metric cargoman_reconcile_drifts_total)" 1
if mirror_has github/acme/foo refs/tags/v1.1.0; then not_ok "foo synced although reconciliation is off"; else ok "interval 0 does nothing"; fi
stop_gateway

# (a) The issue's test: the gateway is down while a tag is pushed; it starts with
# reconcile_interval = 2 and no webhook is ever sent for the tag.
echo 3 >"$W/v" && git -C "$W" commit -qam three && git -C "$W" tag v1.2.0 && git -C "$W" push -q origin main v1.2.0
server_conf 2
rm "$TMP/conf/20-ctl.conf"
t0=$(date +%s)
start_gateway "$TMP/conf" "$TMP/data"
if wait_until 20 p2_has foo v1.2.0; then
    ok "v1.2.0 published without a webhook, $(($(date +%s) - t0)) s after the start (interval 2 s)"
else
    not_ok "v1.2.0 not published by reconciliation"; cat "$TMP/gateway.log"
fi
P="$TMP/project"
mkdir -p "$P"
cat >"$P/composer.json" <<JSON
{"repositories": [{"type": "composer", "url": "http://127.0.0.1:$PORT"}, {"packagist.org": false}],
 "require": {"acme/foo": "^1.2"}, "config": {"secure-http": false}, "minimum-stability": "stable"}
JSON
export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
(cd "$P" && composer update --no-interaction --no-progress >"$TMP/composer1.log" 2>&1)
expect_eq "composer installs v1.2.0" "$(cat "$P/vendor/acme/foo/v" 2>/dev/null)" 3
m=$(curl -sf "http://127.0.0.1:$PORT/metrics")
expect_eq "no webhook was sent to this gateway" "$(grep -c '^cargoman_webhook_requests_total{' <<<"$m")" 0
expect_contains "the metrics count one drift" "$m" "cargoman_reconcile_drifts_total 1"
expect_contains "and its time to detect" "$m" "cargoman_reconcile_detect_seconds_count 1"
expect_contains "the delivery is marked as a reconciliation" "$(curl -sf "http://127.0.0.1:$PORT/api/deliveries")" '"reconcile-'
# Quiet once in step: later checks find nothing more.
wait_for metric_ge 'cargoman_reconcile_checks_total{result="same"}' 1 || not_ok "no clean check after the sync"
expect_eq "still one drift" "$(metric cargoman_reconcile_drifts_total)" 1
stop_gateway
[ "$FAIL" -eq 0 ] || { tail -n 40 "$TMP/gateway.log" "$TMP"/composer*.log; }
finish
