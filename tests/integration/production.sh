#!/usr/bin/env bash
# docs/production.md followed where a test can (issue 13): `cargoman check` run as an
# unprivileged user, as the unit's ExecStartPre does; the nginx site of step 5, taken from the
# page itself, terminating TLS on loopback in front of a real gateway with the page's
# trusted_proxies line; a signed push through it is accepted, recorded and logged with the
# client nginx saw, and a client's own X-Forwarded-For does not get it past allow_from.
# 127.0.0.2 (curl --interface) is the client; nginx and the gateway listen on 127.0.0.1.
. "$(dirname "$0")/lib.sh"
need curl python3 nginx openssl runuser
[ "$(id -u)" = 0 ] || { echo "SKIP: runs the unit's commands as another user: needs root"; exit 77; }

DOC="$CM_SRCDIR/docs/production.md"
install_gateway
chmod 755 "$TMP"
PORT=$(free_port)
TLS_PORT=$(free_port)

# Step 5's server line, from the page; the listen address and the secret are the test's.
site_line=$(grep -o 'server = { listen = [^;]*; trusted_proxies = \[ "127.0.0.1" \];' "$DOC")
expect_contains "the page gives the trusted_proxies line" "$site_line" 'trusted_proxies = [ "127.0.0.1" ]'
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { listen = "127.0.0.1:$PORT"; trusted_proxies = [ "127.0.0.1" ]; workers = 1; };
CONF
cat >"$TMP/conf/30-github.conf" <<'CONF'
endpoints = (
  { name = "github"; provider = "github"; secret = "${GITHUB_WEBHOOK_SECRET}";
    clone_url = "http://127.0.0.1:9/{repository}.git"; allow_from = [ "127.0.0.2/32" ]; }
);
CONF
chmod -R a+rX "$TMP/conf" "$TMP/inst"
export GITHUB_WEBHOOK_SECRET=s3cr3t

# Step 4: check as the unit's user (here nobody: the test creates no account), writing nothing.
out=$(runuser -u nobody -- env GITHUB_WEBHOOK_SECRET=s3cr3t "$INST_BIN" check -c "$TMP/conf" \
    -P "$INST_PLUGINS" 2>&1) && rc=0 || rc=$?
expect_eq "check runs as an unprivileged user" "$rc" 0
expect_contains "and validates the configuration" "$out" "is valid"

start_gateway "$TMP/conf" "$TMP/data"

# Step 5: the nginx site exactly as the page prints it, with this test's port, certificate and
# the gateway's address put in.
python3 - "$DOC" >"$TMP/site.conf" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"`/etc/nginx/sites-available/cargoman`:\n\n```\n(.*?)```", text, re.S).group(1)
print(block)
PY
expect_contains "the page gives an nginx server block" "$(cat "$TMP/site.conf")" "proxy_pass"
sed -i -e "s|listen 443 ssl;|listen 127.0.0.1:$TLS_PORT ssl;|" \
    -e "s|/etc/ssl/certs/packages.example.com.pem|$TMP/cert.pem|" \
    -e "s|/etc/ssl/private/packages.example.com.key|$TMP/key.pem|" \
    -e "s|http://127.0.0.1:8080|http://127.0.0.1:$PORT|" "$TMP/site.conf"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=packages.example.com" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
mkdir -p "$TMP/nginx"
chmod 1777 "$TMP/nginx"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
error_log $TMP/nginx/error.log;
pid $TMP/nginx/nginx.pid;
events { worker_connections 64; }
http {
    access_log $TMP/nginx/access.log;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    include $TMP/site.conf;
}
CONF
nginx -t -c "$TMP/nginx.conf" >"$TMP/nginx-t.log" 2>&1 ||
    { cat "$TMP/nginx-t.log"; not_ok "nginx refuses the page's site"; finish; exit 1; }
nginx -c "$TMP/nginx.conf"
trap 'kill "$(cat "$TMP/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null; cleanup' EXIT
wait_for test -s "$TMP/nginx/nginx.pid"

github_push acme/app 2222222222222222222222222222222222222222 >"$TMP/push.json"
# via_nginx DELIVERY [curl args]: a signed push through nginx from 127.0.0.2; the status.
via_nginx() {
    local d=$1
    shift
    sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cr3t "$TMP/push.json" |
        sed -n 's/^X-Hub-Signature-256: //p')
    curl -sk --interface 127.0.0.2 -o "$TMP/body" -w '%{http_code}' \
        "https://127.0.0.1:$TLS_PORT/api/webhooks/github" -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $d" -H "X-Hub-Signature-256: $sig" \
        --data-binary "@$TMP/push.json" "$@"
}
expect_eq "a signed push through nginx's TLS is accepted" "$(via_nginx prod-1)" 202
logged() { grep -q 'delivery: delivery="prod-1".*client="127.0.0.2" via="127.0.0.1"' "$TMP/gateway.log"; }
wait_for logged && ok "its log line names the client nginx saw, via nginx" ||
    not_ok "no delivery line with client 127.0.0.2 via 127.0.0.1: $(grep prod-1 "$TMP/gateway.log")"
rec=$(curl -s "http://127.0.0.1:$PORT/api/deliveries?limit=10" | python3 -c '
import json, sys
for d in json.load(sys.stdin)["deliveries"]:
    if d.get("delivery_id") == "prod-1": print(d.get("client"), d.get("via"), d.get("status"))')
expect_eq "and /api/deliveries records it so" "$rec" "127.0.0.2 127.0.0.1 202"

# A client that writes its own X-Forwarded-For: nginx appends the address it saw, and the
# gateway takes the right-most address that is not a trusted proxy.
sed -i 's|"127.0.0.2/32"|"203.0.113.0/24"|' "$TMP/conf/30-github.conf"
kill -HUP "$GW_PID"
reloaded() { curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^cargoman_config_reloads_total{result="ok"} 1'; }
wait_for reloaded && ok "SIGHUP takes the new allow_from" || not_ok "the reload was not counted"
github_push acme/app 3333333333333333333333333333333333333333 >"$TMP/push.json"
code=$(via_nginx prod-2 -H 'X-Forwarded-For: 203.0.113.7')
expect_eq "a client's own X-Forwarded-For does not pass allow_from" "$code" 403
expect_contains "the 403 names the address it judged, and the proxy" "$(cat "$TMP/body")" \
    "127.0.0.2 (forwarded by 127.0.0.1)"
stop_gateway
finish
