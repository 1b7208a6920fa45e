#!/usr/bin/env bash
# A vendor works from the installed files alone: the man pages render, the docs the header
# names are installed, the Gitea example copied from the installed doc directory builds with
# only `pkg-config cargoman-plugin`, joins through server.plugin_path, and the installed
# daemon answers a signed push (202, then synced from a git daemon), a bad signature (401)
# and an ignored event (200). The plugin path's errors are checked on the installed binary.
. "$(dirname "$0")/lib.sh"
need pkg-config cc make git curl python3 man groff

install_gateway
PC_DIR=$(dirname "$(find "$TMP/inst" -name cargoman-plugin.pc | head -n1)")
export PKG_CONFIG_PATH="$PC_DIR" PKG_CONFIG_SYSROOT_DIR="$TMP/inst"
pc() { pkg-config "$@" cargoman-plugin; }

# --- the installed SDK and docs ---
expect_contains "the .pc requires jansson" "$(pc --print-requires)" "jansson"
minor=$(sed -n 's/^#define CM_ABI_MINOR \([0-9]*\)$/\1/p' "$CM_SRCDIR/include/cargoman/plugin.h")
expect_eq "the .pc's abi_minor is the header's" "$(pc --variable=abi_minor)" "$minor"
# pkgconf puts the sysroot before variables too, pkg-config does not.
DOC=$(pc --variable=docdir)
case $DOC in "$TMP/inst"/*) ;; *) DOC="$TMP/inst$DOC" ;; esac
HDR=$(find "$TMP/inst" -path '*/include/cargoman/plugin.h' | head -n1)
for md in $(grep -o '[a-z-]*\.md' "$HDR" | sort -u); do
    if [ -f "$DOC/$md" ]; then ok "the header's $md is installed"; else not_ok "$md named by the header is not in $DOC"; fi
done
for page in man8/cargoman.8 man5/cargoman.conf.5 man3/cargoman-plugin.3; do
    f=$(find "$TMP/inst" -path "*/man/$page" | head -n1)
    if [ -z "$f" ]; then not_ok "$page is not installed"; continue; fi
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null; groff -ww -z -man "$f" 2>&1)
    expect_eq "$page renders without warnings" "$warn" ""
    if grep -q '@[a-z]*dir@' "$f"; then not_ok "$page keeps a placeholder"; else ok "$page has this build's paths"; fi
done

# --- the example, built from the installed copy ---
cp -r "$DOC/examples/gitea" "$TMP/gitea"
if make -s -C "$TMP/gitea" >"$TMP/build.log" 2>&1; then ok "gitea builds with only pkg-config cargoman-plugin"; else cat "$TMP/build.log"; not_ok "gitea does not build"; fi
make -s -C "$TMP/gitea" install PROVIDERDIR="$TMP/vendor/providers" >/dev/null
syms=$(nm -D --defined-only "$TMP/vendor/providers/gitea.so" | awk '{print $3}' | grep -v '^_' | tr '\n' ' ')
expect_eq "it exports only its descriptor" "$syms" "cargoman_provider "

# --- the plugin path, on the installed binary ---
OUT=$("$INST_BIN" plugins -P "$INST_PLUGINS" -P "$TMP/vendor" 2>&1)
expect_contains "plugins lists it beside the built-in ones" "$OUT" "provider  gitea "
expect_contains "and the built-in ones" "$OUT" "provider  github "
OUT=$(CARGOMAN_PLUGIN_PATH="$TMP/vendor" "$INST_BIN" plugins -P "$INST_PLUGINS" 2>&1)
expect_contains "CARGOMAN_PLUGIN_PATH adds it too" "$OUT" "provider  gitea "
OUT=$(CARGOMAN_PLUGIN_PATH="$TMP/vendor:$TMP/gone" "$INST_BIN" plugins -P "$INST_PLUGINS" 2>&1)
expect_contains "a missing directory in CARGOMAN_PLUGIN_PATH is an error" "$OUT" "CARGOMAN_PLUGIN_PATH: $TMP/gone"
mkdir -p "$TMP/dup/providers"
cp "$TMP/vendor/providers/gitea.so" "$TMP/dup/providers/"
OUT=$("$INST_BIN" plugins -P "$INST_PLUGINS" -P "$TMP/vendor" -P "$TMP/dup" 2>&1)
expect_contains "a name in two directories is refused naming both" "$OUT" \
    "$TMP/vendor/providers/gitea.so and $TMP/dup/providers/gitea.so"

# --- a signed push, a bad signature, an ignored event through the installed daemon ---
start_git_daemon
new_repo_at acme/tea "$TMP/work"
date +%s%N >"$TMP/work/stamp"
git -C "$TMP/work" add stamp && git -C "$TMP/work" commit -qm one && git -C "$TMP/work" push -q origin main
NEW=$(git -C "$TMP/work" rev-parse main)
mkdir -p "$TMP/conf"
cat >"$TMP/conf/00-server.conf" <<CONF
server = { plugin_path = [ "$TMP/vendor" ]; };
endpoint = { name = "tea"; provider = "gitea"; url = "https://gitea.example"; secret = "s3cret";
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
run_check=$("$INST_BIN" check -c "$TMP/conf" -P "$INST_PLUGINS" 2>&1)
expect_contains "check loads it through server.plugin_path" "$run_check" "provider=gitea"
mkdir -p "$TMP/badconf"
printf 'server = { plugin_path = [ "%s/gone" ]; };\n' "$TMP" >"$TMP/badconf/00.conf"
OUT=$("$INST_BIN" check -c "$TMP/badconf" -P "$INST_PLUGINS" 2>&1)
expect_contains "a missing server.plugin_path directory names file and line" "$OUT" "00.conf:1: server.plugin_path"
start_gateway "$TMP/conf" "$TMP/data"

python3 - "$NEW" >"$TMP/push.json" <<'PY'
import json, sys
z = "0" * 40
print(json.dumps({"ref": "refs/heads/main", "before": z, "after": sys.argv[1],
  "repository": {"id": 3, "full_name": "acme/tea", "clone_url": "https://gitea.example/acme/tea.git",
  "ssh_url": "git@gitea.example:acme/tea.git", "html_url": "https://gitea.example/acme/tea"},
  "pusher": {"login": "t"}}))
PY
sig=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(b"s3cret", open(sys.argv[1],"rb").read(), hashlib.sha256).hexdigest())' "$TMP/push.json")
r=$(post tea "$TMP/push.json" -H 'X-Gitea-Event: push' -H "X-Gitea-Signature: $sig" -H 'X-Gitea-Delivery: d-1')
expect_contains "a signed push is accepted" "$r" "202 "
mirror_head() { git --git-dir="$TMP/data/mirrors/tea/acme/tea.git" rev-parse refs/heads/main 2>/dev/null; }
synced() { [ "$(mirror_head)" = "$NEW" ]; }
if wait_for synced; then ok "and synced to a mirror from the git daemon"; else not_ok "not synced"; cat "$TMP/gateway.log"; fi
r=$(post tea "$TMP/push.json" -H 'X-Forgejo-Event: push' -H "X-Forgejo-Signature: $(echo "$sig" | tr '0-9a-f' 'f0-9a-e')" -H 'X-Forgejo-Delivery: d-2')
expect_contains "a bad signature is 401" "$r" "401 "
isig=$(python3 -c 'import hmac,hashlib,sys; print(hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest())')
echo -n '{}' >"$TMP/issue.json"
r=$(post tea "$TMP/issue.json" -H 'X-Gitea-Event: issues' -H "X-Gitea-Signature: $isig" -H 'X-Gitea-Delivery: d-3')
expect_contains "an issue event is 200, ignored" "$r" "200 "
stop_gateway
finish
