#!/usr/bin/env bash
# A delivery's repository name picks the mirror, and without clone_url its clone URL picks what
# is fetched into it. Whoever can send deliveries to the endpoint (its secret is shared by every
# repository's hook, or none is needed) names PLAT/billing with the clone URL of a path that
# does not exist (so that, a window apart and with a push of its own between, PLAT/billing
# would look gone from its host and its package names released), or with the URL of its own
# repository (so that its history would be published as acme/billing-api). A clone URL must
# name the repository the delivery is about: both are refused at intake, the mirror and
# acme/billing-api stay, and the attacker's repository claiming that name stays refused. A
# repository really deleted is noticed by its sync's retries, as by the reconciler.
. "$(dirname "$0")/../lib.sh"
need curl python3 git
. "$(dirname "$0")/../owners_lib.sh"
[ -x /usr/sbin/lighttpd ] || { echo "SKIP: lighttpd is not installed"; exit 77; }

install_gateway
start_git_daemon
start_git_http "$TMP/git"
SECRET="shared by every repository's hook"
mkdir -p "$TMP/conf"
PORT=$(free_port)
U="http://127.0.0.1:$PORT"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 1; reconcile_interval = 0; gone_repository_max_age = 2; };
sync = ( { plugin = "composer"; base_url = "$U"; } );
CONF
cat >"$TMP/conf/10-dc.conf" <<CONF
endpoint = { name = "dc"; provider = "bitbucket-datacenter"; url = "http://127.0.0.1:$LPORT/git";
             secret = "$SECRET"; };
CONF
start_gateway "$TMP/conf" "$TMP/data"
MIRROR="$TMP/data/mirrors/dc/PLAT/billing.git"

at() { echo "http://127.0.0.1:$LPORT/git/$1.git"; }

retries() { grep -c "sync: dc/$1: repository not found at .*$2" "$TMP/gateway.log"; }
# retried REPO URL_PART N: the worker has tried REPO's job more than N times, each a 404
retried() { [ "$(retries "$1" "$2")" -gt "$3" ]; }

repo PLAT/billing acme/billing-api v1.0.0
repo PLAT/second acme/second v1.0.0
repo MINE/tool acme/tool v1.0.0
hook dc PLAT/billing 101 v1.0.0 "$(at PLAT/billing)" >/dev/null
hook dc PLAT/second 102 v1.0.0 "$(at PLAT/second)" >/dev/null
if wait_for p2_has acme/billing-api v1.0.0 && wait_for p2_has acme/second v1.0.0; then
    ok "PLAT/billing publishes acme/billing-api, PLAT/second acme/second"
else not_ok "not published"; fi

# --- the attacks ---------------------------------------------------------------------------
# The victim's name and id, a tag the mirror lacks (a change already there needs no fetch),
# fetched from a path that does not exist, or from the attacker's own repository: a clone URL
# must name the repository the delivery is about, so both are refused at intake.
NEW=1111111111111111111111111111111111111111
r=$(hook dc PLAT/billing 101 v6.6.6 "$(at MINE/no-such)" $NEW)
expect_eq "a delivery whose clone URL names a path that does not exist is refused" "${r%% *}" 400
expect_contains "saying why" "$r" "does not name the repository PLAT/billing"
repo MINE/tool acme/tool v6.6.6
r=$(hook dc PLAT/billing 101 v6.6.6 "$(at MINE/tool)" "$(git -C "$TMP/work/MINE/tool" rev-parse v6.6.6)")
expect_eq "a delivery naming PLAT/billing with MINE/tool's clone URL is refused" "${r%% *}" 400
hook dc MINE/tool 900 v1.0.0 "$(at MINE/tool)" >/dev/null # "the endpoint answered"
wait_for p2_has acme/tool v1.0.0 || not_ok "the attacker's own repository was not synced"
sleep 3 # past gone_repository_max_age
if [ -d "$MIRROR" ]; then ok "PLAT/billing's mirror stays"
else not_ok "PLAT/billing's mirror was removed"; fi
if git -C "$MIRROR" config cargoman.url | grep -q "PLAT/billing"; then
    ok "and it still syncs from its own URL"
else not_ok "PLAT/billing's mirror now syncs from $(git -C "$MIRROR" config cargoman.url)"; fi
if logged "PLAT/billing: .*the repository is gone from its host"; then not_ok "PLAT/billing declared gone"
else ok "PLAT/billing is not declared gone"; fi
repo MINE/tool acme/billing-api v9.0.0
hook dc MINE/tool 900 v9.0.0 "$(at MINE/tool)" >/dev/null
refused() { curl -sf "$U/api/repositories" | grep -q 'already published from dc:PLAT/billing'; }
if wait_for refused; then ok "the attacker's claim on acme/billing-api is refused"
else not_ok "no refusal of MINE/tool's claim"; fi
if p2_has acme/billing-api v9.0.0; then not_ok "the attacker publishes acme/billing-api v9.0.0"
else ok "acme/billing-api v9.0.0 is not published"; fi
if p2_has acme/billing-api v1.0.0; then ok "acme/billing-api v1.0.0 is still served"
else not_ok "acme/billing-api v1.0.0 is gone"; fi

# --- a real deletion, noticed by a sync (no reconciler here) ----------------------------------
rm -rf "$TMP/git/PLAT/second.git"
hook dc PLAT/second 102 v6.6.6 "$(at PLAT/second)" $NEW >/dev/null
wait_for retried PLAT/second second 0 || not_ok "PLAT/second's sync was not tried"
sleep 1 # "answered since" counts in whole seconds
repo MINE/tool acme/tool v1.1.0
hook dc MINE/tool 900 v1.1.0 "$(at MINE/tool)" >/dev/null
wait_for p2_has acme/tool v1.1.0 || not_ok "the attacker's own repository was not synced"
sleep 3
gone() { logged "PLAT/second: .*the repository is gone from its host"; }
if wait_for gone; then ok "deleted at its host, PLAT/second is gone when its sync retries"
else not_ok "the sync does not see the deletion"; fi
if [ ! -e "$TMP/data/mirrors/dc/PLAT/second.git" ]; then ok "its mirror is removed"
else not_ok "PLAT/second's mirror stays"; fi
stop_gateway
[ "$FAIL" -eq 0 ] || tail -n 40 "$TMP/gateway.log"
finish
