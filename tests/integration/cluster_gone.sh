#!/usr/bin/env bash
# A repository gone from its host releases its package names across a cluster (issue 13):
# node 1 mirrors acme/old (publishing acme/billing) and acme/other; node 2 has no mirror of
# either. acme/new claims acme/billing and is refused. The host deletes acme/old: node 1's
# reconciler finds it gone (acme/other still answers), records it in the database before it
# removes its own mirror, and the next push of acme/new publishes acme/billing on every node,
# whichever syncs it. A repository that comes back is followed again once a sync of it
# completes. A real PostgreSQL and a git daemon, both started here; skips (77) without them.
. "$(dirname "$0")/lib.sh"
need curl python3 git psql

. "$(dirname "$0")/cluster_lib.sh"

install_gateway
start_git_daemon
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-cluster.conf" <<CONF
server = { workers = 2; sync_coalesce_ms = 0; reconcile_interval = 1; reconcile_spacing_ms = 0;
           gone_repository_max_age = 3; };
queue = { backend = "postgresql"; conninfo = "\${CARGOMAN_DATABASE_URL}"; lease_seconds = 3; };
endpoint = { name = "github"; provider = "github"; url = "https://github.com"; secret = "s3cr3t";
             clone_url = "$(git_url '{repository}')"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:1"; } );
CONF
"$INST_BIN" db migrate -c "$TMP/conf" >/dev/null 2>&1 || { echo "db migrate failed"; exit 1; }

# package REPO NAME: REPO's main names the Composer package NAME, committed and pushed.
package() {
    [ -d "$TMP/work/$1" ] || new_repo_at "$1" "$TMP/work/$1"
    printf '{"name": "%s", "description": "%s %s"}\n' "$2" "$1" "$RANDOM" >"$TMP/work/$1/composer.json"
    git -C "$TMP/work/$1" add composer.json && git -C "$TMP/work/$1" commit -qm "$2" &&
        git -C "$TMP/work/$1" push -q origin main 2>/dev/null
}
head_of() { git -C "$TMP/work/$1" rev-parse main; }
serves() { curl -sf "http://127.0.0.1:${NODE_PORT[$1]}/p2/$2~dev.json" | grep -q "$3"; }
owner_of() { # NODE PACKAGE
    curl -sf "http://127.0.0.1:${NODE_PORT[$1]}/api/composer/owners" | python3 -c '
import json, sys
print("".join(o["owner"] for o in json.load(sys.stdin)["owners"] if o["package"] == sys.argv[1]))' "$2"
}
logged() { cat "$TMP"/node*.log | grep -q "$1"; }

# --- node 1 alone mirrors both repositories ---------------------------------------------------
start_node 1
package acme/old acme/billing
package acme/other acme/other
hook 1 acme/old "$(head_of acme/old)" old-1 >/dev/null
hook 1 acme/other "$(head_of acme/other)" other-1 >/dev/null
if wait_for serves 1 acme/billing "$(head_of acme/old)" && wait_for serves 1 acme/other dev-main; then
    ok "node 1 publishes acme/billing from acme/old, and acme/other"
else not_ok "node 1 did not publish"; fi
start_node 2
if wait_for serves 2 acme/billing "$(head_of acme/old)"; then ok "node 2 serves them from the database"
else not_ok "node 2 does not serve acme/billing"; fi

# --- acme/new claims the name while acme/old holds it ------------------------------------------
package acme/new acme/billing
hook 2 acme/new "$(head_of acme/new)" new-1 >/dev/null
refused() { logged "acme/billing is already published from github:acme/old"; }
if wait_for refused; then ok "acme/new is refused while acme/old is followed"; else not_ok "no refusal"; fi
expect_eq "the owner is acme/old" "$(owner_of 2 acme/billing)" "github:acme/old"

# --- the host deletes acme/old ------------------------------------------------------------------
rm -rf "$TMP/git/acme/old.git"
gone() { grep -q "acme/old: the repository is gone from its host" "$TMP/node1.log"; }
if wait_for gone; then ok "node 1 finds acme/old gone (acme/other still answers)"
else not_ok "node 1 did not find it gone"; grep acme/old "$TMP/node1.log" | tail -3; fi
expect_eq "the finding is in the database for every node" \
    "$(db "SELECT repo_key FROM cargoman_gone")" "github/acme/old"
if [ ! -e "$TMP/data1/mirrors/github/acme/old.git" ]; then ok "node 1's mirror is removed"
else not_ok "node 1's mirror is still there"; fi

# The next push of acme/new publishes the name, whichever node syncs it, and both serve it.
package acme/new acme/billing
hook 2 acme/new "$(head_of acme/new)" new-2 >/dev/null
for i in 1 2; do
    if wait_for serves "$i" acme/billing "$(head_of acme/new)"; then
        ok "node $i serves acme/billing from acme/new"
    else not_ok "node $i does not serve acme/new's acme/billing"; fi
done
case $(owner_of 1 acme/billing) in
github:acme/new*) ok "owners: acme/new's" ;;
*) not_ok "owner is '$(owner_of 1 acme/billing)'" ;;
esac
if logged "acme/billing is released by github:acme/old"; then ok "the release names the old holder"
else not_ok "no release line"; fi

# --- acme/old comes back: a completed sync of it drops the record ---------------------------------
rm -rf "$TMP/work/acme/old"
package acme/old acme/old-again
hook 1 acme/old "$(head_of acme/old)" old-2 "$(printf '0%.0s' $(seq 40))" >/dev/null
back() { [ "$(db "SELECT count(*) FROM cargoman_gone")" = 0 ]; }
if wait_for back; then ok "a completed sync of acme/old drops the record"; else not_ok "the record stays"; fi

stop_nodes
[ "$FAIL" -eq 0 ] || tail -n 30 "$TMP"/node*.log
finish
