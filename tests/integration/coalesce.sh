#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An event costs no fetch when its work is already done: 200 signed pushes whose commits were
# all on the git daemon before the first cost at most 2 fetches and end with the mirror and
# Composer current; a push the mirror lacks, a push that moved a branch back and a delete
# still fetch; a delete of a ref already gone does not; the sync plugins run only when the
# refs changed since their last good run, also across a restart after a "crash" before them.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon
W=$TMP/work
new_repo_at acme/pkg "$W"
printf '{"name":"acme/pkg","type":"library"}\n' >"$W/composer.json"
git -C "$W" add composer.json
for i in $(seq 0 200); do git -C "$W" commit -q --allow-empty -m "c$i"; done
git -C "$W" push -q origin main
git -C "$W" rev-list --reverse main >"$TMP/revs"
rev() { sed -n "$(($1 + 1))p" "$TMP/revs"; } # rev N: commit cN

CONF=$TMP/conf DATA=$TMP/data MIRROR=$TMP/data/mirrors/gh/acme/pkg.git
mkdir -p "$CONF"
cat >"$TMP/hook.sh" <<HOOK
#!/bin/sh
echo "\$CARGOMAN_DELIVERY_ID" >>"$TMP/runs"
HOOK
chmod +x "$TMP/hook.sh"
PORT=$(free_port)
cat >"$CONF/10-endpoints.conf" <<CONF
server = { workers = 2; };
endpoint = { name = "gh"; provider = "github"; url = "https://github.com"; secret = "s3cret";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
sync = ( { plugin = "composer"; base_url = "http://127.0.0.1:$PORT"; },
         { plugin = "exec"; command = "$TMP/hook.sh"; } );
CONF
start_gateway "$CONF" "$DATA"

send() { python3 "$CM_SRCDIR/tests/integration/send_pushes.py" "$PORT" gh s3cret acme/pkg; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
fetches() { metric 'cargoman_fetches_total{result="ok"}'; }
skipped() { metric cargoman_fetches_skipped_total; }
runs() { [ -f "$TMP/runs" ] && wc -l <"$TMP/runs" | tr -d ' ' || echo 0; }
idle() { [ "$(metric cargoman_spool_depth)" = 0 ]; }
mirror_main() { git --git-dir="$MIRROR" rev-parse -q --verify refs/heads/main; }
p2_ref() {
    curl -sf "http://127.0.0.1:$PORT/p2/acme/pkg~dev.json" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"]["acme/pkg"][0]["source"]["reference"])'
}
p2_is() { [ "$(p2_ref)" = "$1" ]; }
# settle WHAT: wait until every accepted push is synced.
settle() { wait_for idle || not_ok "$1: the queue did not drain: $(tail -n 5 "$TMP/gateway.log")"; }

# --- 200 pushes, every commit already on the server ---------------------------------------
for i in $(seq 1 200); do echo "refs/heads/main $(rev $((i - 1))) $(rev "$i")"; done >"$TMP/pushes"
expect_eq "200 signed pushes are accepted" "$(send <"$TMP/pushes")" 200
settle "200 pushes"
f=$(fetches)
if [ "$f" -ge 1 ] && [ "$f" -le 2 ]; then ok "200 pushes cost $f fetch(es)"; else not_ok "200 pushes cost $f fetches"; fi
expect_eq "no fetch failed" "$(metric 'cargoman_fetches_total{result="error"}')" 0
[ "$(skipped)" -ge 1 ] && ok "the other syncs were counted as skipped fetches" || not_ok "skipped: $(skipped)"
expect_eq "the mirror is current" "$(mirror_main)" "$(rev 200)"
expect_eq "the Composer p2 file is current" "$(p2_ref)" "$(rev 200)"
r=$(runs)
[ "$r" -ge 1 ] && [ "$r" -le "$f" ] && ok "the plugins ran $r time(s), once per fetch at most" || not_ok "plugins ran $r times for $f fetches"

# --- the same push again: nothing changed, no fetch, no plugin run --------------------------
echo "refs/heads/main $(rev 199) $(rev 200)" | send >/dev/null
settle "a repeated push"
expect_eq "a push already in the mirror costs no fetch" "$(fetches)" "$f"
expect_eq "and runs no plugin" "$(runs)" "$r"

# --- a push whose commit is not in the mirror yet -------------------------------------------
git -C "$W" commit -q --allow-empty -m c201 && git -C "$W" push -q origin main
echo "refs/heads/main $(rev 200) $(git -C "$W" rev-parse main)" | send >/dev/null
settle "a new commit"
expect_eq "a commit the mirror lacks is fetched" "$(fetches)" $((f + 1))
expect_eq "the mirror has it" "$(mirror_main)" "$(git -C "$W" rev-parse main)"
expect_eq "the plugins ran for it" "$(runs)" $((r + 1))
wait_for p2_is "$(git -C "$W" rev-parse main)" && ok "Composer has it" || not_ok "p2: $(p2_ref)"

# --- a force-push back to an ancestor the mirror holds (the host does not say "forced") ----
C201=$(git -C "$W" rev-parse main)
git -C "$W" reset -q --hard "$(rev 199)" && git -C "$W" push -q -f origin main
echo "refs/heads/main $C201 $(rev 199)" | send >/dev/null
settle "a force-push"
expect_eq "a branch moved back is fetched" "$(fetches)" $((f + 2))
expect_eq "the mirror moved back with it" "$(mirror_main)" "$(rev 199)"

# --- deletes ---------------------------------------------------------------------------------
echo "refs/heads/gone $(rev 3) -" | send >/dev/null
settle "a delete of a ref the mirror lacks"
expect_eq "a delete of a ref already gone costs no fetch" "$(fetches)" $((f + 2))
git -C "$W" push -q origin "$(rev 5):refs/heads/topic"
echo "refs/heads/topic - $(rev 5)" | send >/dev/null
settle "a new branch at a known commit"
git -C "$W" push -q origin :refs/heads/topic
echo "refs/heads/topic $(rev 5) -" | send >/dev/null
settle "a delete"
if git --git-dir="$MIRROR" rev-parse -q --verify refs/heads/topic >/dev/null; then
    not_ok "the deleted branch is still in the mirror"
else
    ok "a delete of a ref the mirror has is fetched (and pruned)"
fi
f=$(fetches)

# --- a crash between the fetch and the plugins, then a restart -----------------------------
r=$(runs)
stop_gateway
git --git-dir="$MIRROR" config cargoman.pluginrefs 0000 # as if the plugins never ran after it
start_gateway "$CONF" "$DATA"
echo "refs/heads/main $(rev 198) $(rev 199)" | send >/dev/null
settle "after the restart"
expect_eq "after the restart the push costs no fetch" "$(fetches)" 0
expect_eq "but the plugins run again" "$(runs)" $((r + 1))
echo "refs/heads/main $(rev 198) $(rev 199)" | send >/dev/null
settle "after the restart, again"
expect_eq "and only once" "$(runs)" $((r + 1))
stop_gateway
finish
