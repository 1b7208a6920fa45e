#!/usr/bin/env bash
# Binary compatibility: a provider and a sync plugin built against the 1.0 SDK header kept
# in tests/sdk-1.0 load unchanged in the installed daemon, and a signed push goes through
# both (202, synced from a git daemon, the 1.0 sync plugin's on_sync sees the new commit).
. "$(dirname "$0")/lib.sh"
need git curl python3

install_gateway
mkdir -p "$TMP/v10/providers" "$TMP/v10/plugins"
cp "$CM_BUILDDIR/tests/modules/.libs/sdk10.so" "$TMP/v10/providers/"
cp "$CM_BUILDDIR/tests/modules/.libs/sdk10sync.so" "$TMP/v10/plugins/"
OUT=$("$INST_BIN" plugins -P "$INST_PLUGINS" -P "$TMP/v10" 2>&1)
expect_contains "plugins lists the 1.0 provider as ABI 1.0" "$OUT" "provider  sdk10                  ABI 1.0"
expect_contains "and the 1.0 sync plugin" "$OUT" "sync      sdk10sync              ABI 1.0"

start_git_daemon
new_repo_at acme/old "$TMP/work"
date +%s%N >"$TMP/work/stamp"
git -C "$TMP/work" add stamp && git -C "$TMP/work" commit -qm one && git -C "$TMP/work" push -q origin main
NEW=$(git -C "$TMP/work" rev-parse main)
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00.conf" <<CONF
endpoint = { name = "old"; provider = "sdk10"; url = "https://old.example"; secret = "k10";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "sdk10sync"; } );
CONF
export CARGOMAN_PLUGIN_PATH="$TMP/v10"
start_gateway "$TMP/conf" "$TMP/data"
printf 'refs/heads/main %s %s acme/old' "$(printf '0%.0s' $(seq 40))" "$NEW" >"$TMP/body"
sig=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(b"k10", open(sys.argv[1],"rb").read(), hashlib.sha256).hexdigest())' "$TMP/body")
r=$(post old "$TMP/body" -H "X-Sdk10-Signature: $sig")
expect_contains "the 1.0 provider accepts a signed push" "$r" "202 "
r=$(post old "$TMP/body" -H "X-Sdk10-Signature: 00$sig")
expect_contains "and refuses a wrong signature" "$r" "401 "
if wait_for grep -q "sdk10 synced acme/old refs/heads/main at $NEW" "$TMP/gateway.log"; then
    ok "the 1.0 sync plugin ran on the synced mirror"
else
    not_ok "the 1.0 sync plugin did not log the sync"; cat "$TMP/gateway.log"
fi
stop_gateway
finish
