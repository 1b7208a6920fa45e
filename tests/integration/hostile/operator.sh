#!/usr/bin/env bash
# Issue 13's operator surface under attack. Without server.admin_token the operator routes
# trust loopback: a web page open in a browser on the gateway's host must not borrow that
# trust (a cross-site form POST needs no preflight, so it could release a Composer name or
# replay a delivery; a rebound DNS name could read /api/deliveries). And every answer to a
# webhook route is recorded, also a refusal whose reason quotes bytes the sender chose that
# are not UTF-8: otherwise a prober could keep its requests out of /api/deliveries.
. "$(dirname "$0")/../lib.sh"
need curl python3

install_gateway
mkdir -p "$TMP/conf"
PORT=$(free_port)
U="http://127.0.0.1:$PORT"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; };
sync = ( { plugin = "composer"; base_url = "$U"; } );
CONF
cat >"$TMP/conf/10-endpoints.conf" <<'CONF'
endpoint = { name = "gh"; provider = "github"; secret = "s3cret"; };
CONF
start_gateway "$TMP/conf" "$TMP/data"
code_of() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }

# --- 1. a browser on the operator's host ------------------------------------------------------
# What a page on another site makes the browser send: Origin on a POST, Sec-Fetch-* on any
# request of a current browser.
release="$U/api/composer/owners/acme/app/release"
form=(-H 'Content-Type: application/x-www-form-urlencoded')
expect_eq "a cross-site form POST cannot release a name" \
    "$(code_of -X POST -H 'Origin: https://evil.example' "${form[@]}" "$release")" 403
expect_contains "and is told why" "$(cat "$TMP/body")" "browser"
expect_eq "nor a form with fields (a body)" \
    "$(code_of -X POST -H 'Origin: https://evil.example' "${form[@]}" --data 'x=1' "$release")" 403
expect_eq "nor with Origin: null (a sandboxed page)" \
    "$(code_of -X POST -H 'Origin: null' "$release")" 403
expect_eq "nor replay a delivery" \
    "$(code_of -X POST -H 'Origin: https://evil.example' "$U/api/deliveries/1/replay")" 403
expect_eq "a rebound name cannot read /api/deliveries" \
    "$(code_of -H 'Sec-Fetch-Site: same-origin' -H 'Sec-Fetch-Mode: cors' "$U/api/deliveries")" 403
expect_eq "nor the owners" \
    "$(code_of -H 'Sec-Fetch-Site: cross-site' "$U/api/composer/owners")" 403
# The operator's own tools on loopback send none of these: unchanged.
expect_eq "curl on loopback still releases (404: nobody holds it)" \
    "$(code_of -X POST "$release")" 404
expect_eq "also when the POST has a body (answered, not dropped)" \
    "$(code_of -X POST -H 'Content-Type: application/json' --data '{}' "$release")" 404
expect_eq "a replay with a body is answered too (404: no such record)" \
    "$(code_of -X POST --data 'x' "$U/api/deliveries/999/replay")" 404
expect_eq "and reads /api/deliveries" "$(code_of "$U/api/deliveries")" 200
expect_eq "as does the operator's own address bar (Sec-Fetch-Site: none)" \
    "$(code_of -H 'Sec-Fetch-Site: none' -H 'Sec-Fetch-Mode: navigate' "$U/api/deliveries")" 200
out=$("$INST_BIN" composer -u "$U" owners 2>&1)
expect_eq "cargoman composer owners still works" "$?" 0
# The webhook route is not an operator route: hosts that send an Origin are not refused.
expect_eq "a webhook with an Origin header is judged as before (401: unsigned)" \
    "$(code_of -X POST -H 'Origin: https://github.com' -H 'Content-Type: application/json' \
        -H 'X-GitHub-Event: push' --data '{}' "$U/api/webhooks/gh")" 401

# --- 2. refusals whose reason holds the sender's bytes -----------------------------------------
# \xff is never UTF-8; the reason quotes the header, so the record's "error" would not be JSON.
expect_eq "a content type that is not UTF-8 is refused" \
    "$(code_of -X POST -H $'Content-Type: text/\xff\xfe' -H 'X-GitHub-Delivery: bad-ct-1' \
        --data 'x' "$U/api/webhooks/gh")" 415
expect_contains "the answer still says why" "$(cat "$TMP/body")" "is not accepted"
expect_eq "a method that is not UTF-8 is refused" \
    "$(code_of -X $'P\xffST' -H 'X-GitHub-Delivery: bad-method-1' "$U/api/webhooks/gh")" 405
curl -s "$U/api/deliveries?limit=100" >"$TMP/deliveries.json"
has_record() { # DELIVERY_ID STATUS
    python3 -c '
import json, sys
ds = json.load(open(sys.argv[1]))["deliveries"]
hit = [d for d in ds if d.get("delivery_id") == sys.argv[2]]
sys.exit(0 if hit and hit[0].get("status") == int(sys.argv[3]) and hit[0].get("error") else 1)' \
        "$TMP/deliveries.json" "$1" "$2"
}
if has_record bad-ct-1 415; then ok "the 415 is in /api/deliveries with its reason"
else not_ok "the 415 with a non-UTF-8 content type is not recorded"; fi
if has_record bad-method-1 405; then ok "the 405 is in /api/deliveries with its reason"
else not_ok "the 405 with a non-UTF-8 method is not recorded"; fi

stop_gateway
[ "$FAIL" -eq 0 ] || tail -n 30 "$TMP/gateway.log"
finish
