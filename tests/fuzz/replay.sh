#!/bin/sh
# SPDX-License-Identifier: MIT
# make check: every seed (assembled by seeds.sh), every file of tests/fuzz/corpus/TARGET and of
# tests/fuzz/regressions/TARGET through that target's harness built with the normal compiler
# (replay.c as main), for each target of tests/fuzz/targets. Prints one ok/not ok line a target.
set -u
src=${CM_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${CM_BUILDDIR:-.}
seeds=$(mktemp -d "${TMPDIR:-/tmp}/cm-fuzz-seeds.XXXXXX") || exit 1
trap 'rm -rf "$seeds"' EXIT
# Leaks that are libconfig's own, not ours (see the file); kept when the sanitizer build runs.
LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

targets=$(grep -v '^#' "$src/tests/fuzz/targets")
failed=0
n=0
for t in $targets; do
    n=$((n + 1))
    bin=$build/tests/fuzz/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "not ok $n - $t: no $bin: add its program to tests/fuzz.mk"
        failed=1
        continue
    fi
    set -- "$seeds/$t"
    for d in "$src/tests/fuzz/corpus/$t" "$src/tests/fuzz/regressions/$t"; do
        [ -d "$d" ] && set -- "$@" "$d"
    done
    if ! sh "$src/tests/fuzz/seeds.sh" "$t" "$seeds/$t" >"$seeds/$t.log" 2>&1; then
        echo "not ok $n - $t: seeds.sh failed:"
        cat "$seeds/$t.log"
        failed=1
    elif "$bin" "$@" >"$seeds/$t.log" 2>&1; then
        echo "ok $n - $t: $(grep -E "^replay: [0-9]+ inputs" "$seeds/$t.log")"
    else
        echo "not ok $n - $t: an input broke the harness:"
        tail -n 30 "$seeds/$t.log"
        failed=1
    fi
done
# A harness nobody lists would never run.
for f in "$src"/tests/fuzz/fuzz_*.c "$src"/tests/fuzz/corpus/* "$src"/tests/fuzz/regressions/*; do
    [ -e "$f" ] || continue
    t=$(basename "$f" .c)
    t=${t#fuzz_}
    if ! printf '%s\n' "$targets" | grep -qx "$t"; then
        echo "not ok - $f belongs to no target of tests/fuzz/targets"
        failed=1
    fi
done
exit $failed
