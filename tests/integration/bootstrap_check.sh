#!/usr/bin/env bash
# `./bootstrap.sh check` (README, "Quick start"): the script itself, run in a copy of the tree
# whose _build/ makes the suite's own build (already up to date), so it neither installs
# packages nor rebuilds. It must build, then run `cargoman check` on the shipped conf.d with
# the plugins built in _build/modules, and exit as check does.
. "$(dirname "$0")/lib.sh"
need dpkg-query make

# Only where nothing is missing: the script would otherwise install packages.
for p in $(sed -e 's/#.*//' "$CM_SRCDIR/contrib/packages.txt"); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
        { echo "SKIP: $p is not installed, and bootstrap.sh would install it"; exit 77; }
done

T="$TMP/tree"
mkdir -p "$T/contrib" "$T/_build"
cp "$CM_SRCDIR/bootstrap.sh" "$T/"
cp "$CM_SRCDIR/contrib/packages.txt" "$T/contrib/"
cp -r "$CM_SRCDIR/conf.d" "$T/"
rm -f "$T/conf.d/local.mk"
ln -s "$CM_SRCDIR/configure" "$T/configure"
# _build as bootstrap.sh left it ("build _build" with no configure arguments), its make the
# suite's own; the binary and modules are the suite's, so the binary is still the build
# tree's own (plugin/loader.c) wherever it is called from.
: >"$T/_build/.bootstrap-args"
printf 'all:\n\t@$(MAKE) -s -C %s cargoman\n' "$CM_BUILDDIR" >"$T/_build/Makefile"
ln -s "$CM_BUILDDIR/cargoman" "$T/_build/cargoman"
ln -s "$CM_BUILDDIR/modules" "$T/_build/modules"

out=$(cd "$T" && ./bootstrap.sh check 2>&1)
expect_eq "./bootstrap.sh check of the shipped conf.d exits 0" "$?" 0
expect_contains "and reports the shipped conf.d valid" "$out" "configuration conf.d is valid"
expect_contains "and loads each shipped endpoint's provider" "$out" \
    "provider=bitbucket-datacenter"
expect_contains "and the composer plugin" "$out" "sync     composer"

# A broken conf.d: the verb fails as check does, naming the file.
echo 'endpoint = { name = "x"; provider = "nosuch"; };' >"$T/conf.d/50-broken.conf"
out=$(cd "$T" && ./bootstrap.sh check 2>&1)
expect_eq "./bootstrap.sh check of a broken conf.d exits 1" "$?" 1
expect_contains "and names the file" "$out" "50-broken.conf:1"

out=$(cd "$T" && ./bootstrap.sh frobnicate 2>&1)
expect_eq "an unknown verb exits 2" "$?" 2
expect_contains "and the usage names check" "$out" "run|check|test"
finish
