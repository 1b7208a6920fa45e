#!/usr/bin/env bash
# A third-party plugin builds against the installed SDK alone (pkg-config cargoman-plugin),
# installs next to the shipped ones, and the installed gateway loads it.
. "$(dirname "$0")/lib.sh"
need pkg-config cc make

install_gateway
PC_DIR=$(dirname "$(find "$TMP/inst" -name cargoman-plugin.pc | head -n1)")
prefix=$(sed -n 's/^prefix=//p' "$PC_DIR/cargoman-plugin.pc")
cp -r "$CM_SRCDIR/examples/push-log" "$TMP/push-log"
# DESTDIR installs keep the configured prefix inside the .pc; point pkg-config at the copy.
export PKG_CONFIG_PATH="$PC_DIR" PKG_CONFIG_SYSROOT_DIR="$TMP/inst"
if make -s -C "$TMP/push-log" >"$TMP/build.log" 2>&1; then ok "example builds with only the SDK"; else cat "$TMP/build.log"; not_ok "example does not build"; fi
make -s -C "$TMP/push-log" install DESTDIR="$TMP/inst" PLUGINDIR="$prefix/lib/cargoman/plugins" >/dev/null 2>&1
expect_contains "cargoman plugins lists it" "$("$INST_BIN" plugins -P "$INST_PLUGINS" 2>&1)" "push-log"
syms=$(nm -D --defined-only "$TMP/push-log/push-log.so" | awk '{print $3}' | grep -v '^_' | tr '\n' ' ')
expect_eq "it exports only its descriptor" "$syms" "cargoman_sync_plugin "
# The shipped plugins follow the same rule: each exports its descriptor and nothing else.
for so in "$INST_PLUGINS"/providers/*.so "$INST_PLUGINS"/plugins/*.so; do
    want=cargoman_provider
    case "$so" in */plugins/*) want=cargoman_sync_plugin ;; esac
    syms=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^_' | tr '\n' ' ')
    expect_eq "$(basename "$so") exports only $want" "$syms" "$want "
done
finish
