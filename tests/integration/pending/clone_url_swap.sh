#!/usr/bin/env bash
# NOT RUN BY `make check`: it fails until the design fix described in review14's report.
# Run by hand: CM_SRCDIR=... CM_BUILDDIR=... bash tests/integration/pending/clone_url_swap.sh
# Without clone_url an endpoint fetches the clone URL a payload names anywhere under its url,
# and the mirror is chosen by the payload's repository name; nothing ties the two. Whoever can
# send deliveries to the endpoint (every repository admin who was given the shared secret, or
# anyone on an unsigned one) names PLAT/billing (its id too) with the clone URL of a repository
# of its own on the same host: the attacker's history replaces PLAT/billing's mirror, its URL is
# recorded as the mirror's, and acme/billing-api is served from the attacker's code.
. "$(dirname "$0")/../lib.sh"
need curl python3 git
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

# hook KEY/SLUG ID TAG CLONE_URL [SHA]: a signed Data Center push of that new tag (at SHA, else
# at the work tree's tag), fetched from CLONE_URL.
hook() {
    local f sha
    f=$(mktemp "$TMP/hook.XXXXXX")
    sha=${5:-$(git -C "$TMP/work/$1" rev-parse "$3")}
    python3 - "$1" "$2" "$3" "$sha" "$4" >"$f" <<'PY'
import json, sys
name, rid, tag, new, href = sys.argv[1:6]
key, slug = name.split("/")
print(json.dumps({"eventKey": "repo:refs_changed", "date": "2024-05-02T09:15:00+0000",
  "actor": {"name": "t"},
  "repository": {"slug": slug, "id": int(rid), "name": slug, "scmId": "git",
                 "project": {"key": key}, "links": {"clone": [{"name": "http", "href": href}]}},
  "changes": [{"ref": {"id": "refs/tags/" + tag, "displayId": tag, "type": "TAG"},
               "refId": "refs/tags/" + tag, "fromHash": "0" * 40, "toHash": new,
               "type": "ADD"}]}))
PY
    local -a h=(-H 'X-Event-Key: repo:refs_changed' -H "X-Request-Id: gone-$(date +%s%N)")
    while IFS= read -r line; do h+=(-H "$line"); done \
        < <("$INST_BIN" sign -P "$INST_PLUGINS" -p bitbucket-datacenter -s "$SECRET" "$f")
    post dc "$f" "${h[@]}"
}
repo() { # KEY/SLUG PACKAGE TAG
    [ -d "$TMP/work/$1" ] || new_repo_at "$1" "$TMP/work/$1"
    echo "{\"name\": \"$2\", \"description\": \"$1 $3\"}" >"$TMP/work/$1/composer.json"
    git -C "$TMP/work/$1" add composer.json && git -C "$TMP/work/$1" commit -qm "$3"
    git -C "$TMP/work/$1" tag "$3"
    git -C "$TMP/work/$1" push -q origin main "$3" 2>/dev/null
}
at() { echo "http://127.0.0.1:$LPORT/git/$1.git"; }
p2_has() { curl -sf "$U/p2/$1.json" | grep -q "\"$2\""; }
logged() { grep -q "$1" "$TMP/gateway.log"; }

repo PLAT/billing acme/billing-api v1.0.0
hook PLAT/billing 101 v1.0.0 "$(at PLAT/billing)" >/dev/null
wait_for p2_has acme/billing-api v1.0.0 || not_ok "acme/billing-api not published"
repo MINE/tool acme/billing-api v6.6.6
hook PLAT/billing 101 v6.6.6 "$(at MINE/tool)" "$(git -C "$TMP/work/MINE/tool" rev-parse v6.6.6)" >/dev/null
sleep 5 # no state to wait for when the fix refuses the delivery
if p2_has acme/billing-api v6.6.6; then not_ok "the attacker's v6.6.6 is served as acme/billing-api"
else ok "the attacker's code is not served as acme/billing-api"; fi
if git -C "$MIRROR" config cargoman.url | grep -q MINE/tool; then
    not_ok "PLAT/billing's mirror now syncs from MINE/tool"
else ok "PLAT/billing's mirror syncs from its own URL"; fi
stop_gateway
finish
