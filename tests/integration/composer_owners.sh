#!/usr/bin/env bash
# Package ownership follows the operator (issue 13). The story as an operator lived it: a
# Bitbucket Data Center endpoint "bitbucket-datacenter" publishes acme/billing-api; the
# endpoint is renamed dc-eu and a second Data Center, dc-us, is added, as the shipped comment
# suggests. The next push to dc-eu keeps publishing (the name is released by the endpoint that
# no longer exists, with a log line), dc-us publishes its own packages but not dc-eu's, and
# `cargoman composer owners` / `release` (GET and POST under /api/composer/owners) show and
# move a name. A holder whose mirror was removed gives its name up too, and a restart keeps
# what was decided.
. "$(dirname "$0")/lib.sh"
need curl python3 git
. "$(dirname "$0")/owners_lib.sh"

install_gateway
start_git_daemon
SECRET="owners test secret"
mkdir -p "$TMP/conf"
PORT=$(free_port)
U="http://127.0.0.1:$PORT"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; };
sync = ( { plugin = "composer"; base_url = "$U"; } );
CONF
dc_conf bitbucket-datacenter >"$TMP/conf/10-bitbucket-datacenter.conf"
start_gateway "$TMP/conf" "$TMP/data"

# --- 1. day one: the Data Center publishes acme/billing-api -----------------------------------
repo PLAT/billing-api acme/billing-api v1.0.0
r=$(hook bitbucket-datacenter PLAT/billing-api 101 v1.0.0)
expect_eq "day one's push is queued" "${r%% *}" 202
if wait_for p2_has acme/billing-api v1.0.0; then ok "v1.0.0 published"; else not_ok "v1.0.0 not published"; fi
expect_eq "owners names the endpoint and repository" "$(owner_of acme/billing-api)" \
    "bitbucket-datacenter:PLAT/billing-api"
since=$(curl -sf "$U/api/composer/owners" | python3 -c 'import json,sys; print(json.load(sys.stdin)["owners"][0].get("since") or "")')
case $since in 20[0-9][0-9]-*Z) ok "and since when ($since)" ;; *) not_ok "no since: '$since'" ;; esac
out=$("$INST_BIN" composer -u "$U" owners 2>&1)
expect_contains "cargoman composer owners lists it" "$out" "acme/billing-api"
expect_contains "with its owner" "$out" "bitbucket-datacenter:PLAT/billing-api"

# The operator routes' policy, not the repository's: a client seen through a proxy is refused.
r=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 203.0.113.9' "$U/api/composer/owners")
expect_eq "owners through a proxy without server.admin_token is 403" "$r" 403
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/api/composer/owners")
expect_eq "POST on the list is 405" "$r" 405
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/api/composer/owners/acme/nothing/release")
expect_eq "releasing a name nobody holds is 404" "$r" 404

# --- 2. day two: the endpoint is renamed dc-eu and a second Data Center added ------------------
stop_gateway
rm "$TMP/conf/10-bitbucket-datacenter.conf"
dc_conf dc-eu >"$TMP/conf/10-dc-eu.conf"
dc_conf dc-us >"$TMP/conf/11-dc-us.conf"
start_gateway "$TMP/conf" "$TMP/data"
repo PLAT/billing-api acme/billing-api v1.1.0
r=$(hook dc-eu PLAT/billing-api 101 v1.1.0)
expect_eq "a push to the renamed endpoint is queued" "${r%% *}" 202
if wait_for p2_has acme/billing-api v1.1.0; then ok "the renamed endpoint keeps publishing"
else not_ok "v1.1.0 not published after the rename"; grep -i billing "$TMP/gateway.log" | tail -5; fi
expect_eq "owners: the package is dc-eu's now" "$(owner_of acme/billing-api)" "dc-eu:PLAT/billing-api"
if logged "acme/billing-api is released by bitbucket-datacenter:PLAT/billing-api#101, which the gateway no longer follows"; then
    ok "a log line says who held it and why it was released"
else not_ok "no release line"; grep billing "$TMP/gateway.log" | tail -5; fi

# The second Data Center publishes its own package, and cannot take dc-eu's.
repo TEAM/invoices acme/invoices v2.0.0
r=$(hook dc-us TEAM/invoices 202 v2.0.0)
if wait_for p2_has acme/invoices v2.0.0; then ok "the second Data Center publishes its package"
else not_ok "dc-us did not publish acme/invoices"; fi
repo TEAM/billing-api acme/billing-api v9.0.0
r=$(hook dc-us TEAM/billing-api 203 v9.0.0)
refused() { curl -sf "$U/api/repositories" | grep -q 'already published from dc-eu:PLAT/billing-api#101'; }
if wait_for refused; then ok "dc-us cannot take a name dc-eu still publishes"
else not_ok "no refusal"; fi
if p2_has acme/billing-api v9.0.0; then not_ok "dc-us's v9.0.0 is published"; else ok "dc-us's v9.0.0 is not published"; fi

# --- 3. the operator releases the name: the next publisher takes it ---------------------------
out=$("$INST_BIN" composer -u "$U" release acme/billing-api 2>&1)
expect_contains "cargoman composer release says from whom" "$out" "released from dc-eu:PLAT/billing-api"
expect_eq "nobody owns it now" "$(owner_of acme/billing-api)" ""
repo TEAM/billing-api acme/billing-api v9.1.0
r=$(hook dc-us TEAM/billing-api 203 v9.1.0)
if wait_for p2_has acme/billing-api v9.1.0; then ok "the next publisher takes the released name"
else not_ok "dc-us did not take the released name"; fi
expect_eq "owners: dc-us's" "$(owner_of acme/billing-api)" "dc-us:TEAM/billing-api"

# --- 4. a holder whose mirror is gone (the host deleted it, the operator removed the mirror) ---
rm -rf "$TMP/data/mirrors/dc-us/TEAM/billing-api.git"
repo PLAT/billing-api acme/billing-api v1.2.0
r=$(hook dc-eu PLAT/billing-api 101 v1.2.0)
if wait_for p2_has acme/billing-api v1.2.0; then ok "a holder without a mirror gives the name up"
else not_ok "v1.2.0 not published"; fi
expect_eq "owners: dc-eu's again" "$(owner_of acme/billing-api)" "dc-eu:PLAT/billing-api"
if p2_has acme/billing-api v9.1.0; then not_ok "the old holder's versions stay"; else ok "the old holder's versions are gone"; fi

# --- 5. a restart keeps it: one claim on disk --------------------------------------------------
stop_gateway
start_gateway "$TMP/conf" "$TMP/data"
expect_eq "after a restart the owner is the same" "$(owner_of acme/billing-api)" "dc-eu:PLAT/billing-api"
expect_eq "and acme/invoices stays dc-us's" "$(owner_of acme/invoices)" "dc-us:TEAM/invoices"
stop_gateway
[ "$FAIL" -eq 0 ] || tail -n 40 "$TMP/gateway.log"
finish
