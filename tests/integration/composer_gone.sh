#!/usr/bin/env bash
# A repository gone from its host releases the package names it published (issue 13), and a
# credential that lost access does not. dc-eu publishes acme/billing-api from PLAT/old-billing;
# dc-us's TEAM/billing-api wants the same name. The reconciler checks the mirrors every second
# and server.gone_repository_max_age is 3 s:
# 1. the attack: dc-eu's host answers "not found" for every repository (as for a token that
#    lost access): however long that lasts, and though a replayed delivery of another dc-eu
#    repository syncs meanwhile (from what its mirror has), the mirror and the name stay, and
#    dc-us is refused;
# 2. the host deletes PLAT/old-billing while it answers for PLAT/other: the mirror is removed
#    with a log line, and the next push from dc-us takes the name.
. "$(dirname "$0")/lib.sh"
need curl python3 git
. "$(dirname "$0")/owners_lib.sh"

install_gateway
start_git_daemon
SECRET="gone test secret"
mkdir -p "$TMP/conf"
PORT=$(free_port)
U="http://127.0.0.1:$PORT"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; reconcile_interval = 1; reconcile_spacing_ms = 0;
           gone_repository_max_age = 3; };
sync = ( { plugin = "composer"; base_url = "$U"; } );
CONF
dc_conf dc-eu >"$TMP/conf/10-dc-eu.conf"
dc_conf dc-us >"$TMP/conf/11-dc-us.conf"
start_gateway "$TMP/conf" "$TMP/data"
MIRROR="$TMP/data/mirrors/dc-eu/PLAT/old-billing.git"
listed() { curl -sf "$U/api/repositories" | grep -q "\"$1\""; }

# --- dc-eu publishes two packages --------------------------------------------------------------
repo PLAT/old-billing acme/billing-api v1.0.0
repo PLAT/other acme/other v1.0.0
hook dc-eu PLAT/old-billing 101 v1.0.0 >/dev/null
hook dc-eu PLAT/other 102 v1.0.0 >/dev/null
if wait_for p2_has acme/billing-api v1.0.0 && wait_for p2_has acme/other v1.0.0; then
    ok "dc-eu publishes acme/billing-api and acme/other"
else not_ok "dc-eu's packages not published"; fi
expect_eq "acme/billing-api is PLAT/old-billing's" "$(owner_of acme/billing-api)" "dc-eu:PLAT/old-billing"

# --- 1. every dc-eu repository answers "not found": nothing is released -------------------------
mv "$TMP/git/PLAT" "$TMP/git/PLAT.away"
first_missing() { grep -q "PLAT/old-billing: reconciliation: .*missing at the host since" "$TMP/gateway.log"; }
wait_for first_missing || not_ok "no missing-since line"
# The attack within it: a delivery replayed under a fresh id, whose changes the mirror has,
# syncs without contacting the host; it must not count as the endpoint answering.
synced_other() { [ "$(grep -c "PLAT/other synced" "$TMP/gateway.log")" -ge 2 ]; }
hook dc-eu PLAT/other 102 v1.0.0 >/dev/null
if wait_for synced_other; then ok "a replayed delivery of PLAT/other syncs without a fetch"
else not_ok "the replay was not synced"; grep "PLAT/other" "$TMP/gateway.log" | tail -3; fi
unproven() { grep -q "PLAT/old-billing: .*no other repository of endpoint dc-eu was reached since" "$TMP/gateway.log"; }
if wait_for unproven; then ok "past the window, the log says why the name is kept"
else not_ok "no line about the unproven deletion"; grep old-billing "$TMP/gateway.log" | tail -3; fi
sleep 2 # more checks, all "not found", well past gone_repository_max_age
if [ -d "$MIRROR" ]; then ok "the mirror stays while the whole endpoint answers not found"
else not_ok "the mirror was removed on an endpoint-wide not found"; fi
repo TEAM/billing-api acme/billing-api v9.0.0
hook dc-us TEAM/billing-api 203 v9.0.0 >/dev/null
refused() { curl -sf "$U/api/repositories" | grep -q 'already published from dc-eu:PLAT/old-billing'; }
if wait_for refused; then ok "dc-us cannot take the name meanwhile"; else not_ok "no refusal"; fi
expect_eq "the owner is unchanged" "$(owner_of acme/billing-api)" "dc-eu:PLAT/old-billing"
if p2_has acme/billing-api v9.0.0; then not_ok "dc-us's v9.0.0 is published"; else ok "dc-us's v9.0.0 is not"; fi

# --- 2. the host deleted PLAT/old-billing and answers for PLAT/other ----------------------------
mv "$TMP/git/PLAT.away" "$TMP/git/PLAT"
rm -rf "$TMP/git/PLAT/old-billing.git"
gone() { grep -q "PLAT/old-billing: the repository is gone from its host" "$TMP/gateway.log"; }
if wait_for gone; then ok "a log line says the repository is gone and its names released"
else not_ok "no gone line"; grep old-billing "$TMP/gateway.log" | tail -3; fi
if [ ! -e "$MIRROR" ]; then ok "its mirror is removed"; else not_ok "the mirror is still there"; fi
expect_contains "/metrics counts it" "$(curl -s "$U/metrics")" "cargoman_repositories_gone_total 1"
if wait_for listed PLAT/other && ! listed PLAT/old-billing; then
    ok "/api/repositories lists PLAT/other, not PLAT/old-billing"
else not_ok "/api/repositories still lists the gone repository"; fi
repo TEAM/billing-api acme/billing-api v9.1.0
hook dc-us TEAM/billing-api 203 v9.1.0 >/dev/null
if wait_for p2_has acme/billing-api v9.1.0; then ok "the next publisher takes the released name"
else not_ok "dc-us did not take the name"; grep billing "$TMP/gateway.log" | tail -5; fi
expect_eq "owners: dc-us's" "$(owner_of acme/billing-api)" "dc-us:TEAM/billing-api"
if logged "acme/billing-api is released by dc-eu:PLAT/old-billing#101, which the gateway no longer follows"; then
    ok "the release names the old holder"
else not_ok "no release line"; fi
if p2_has acme/other v1.0.0; then ok "PLAT/other's package stays"; else not_ok "acme/other lost"; fi
stop_gateway
[ "$FAIL" -eq 0 ] || tail -n 40 "$TMP/gateway.log"
finish
