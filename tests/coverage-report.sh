#!/bin/sh
# SPDX-License-Identifier: MIT
# Line coverage per source file of core/, providers/ and plugins/ from the .gcda files a
# `--enable-coverage` build left behind (`make coverage` runs it). Plain gcov, no gcovr: a file
# compiled into several objects (the core library, a test, the daemon) counts a line as covered
# when any of them ran it. The lines no test ran go to BUILD_DIR/coverage-missed.txt.
# Usage: coverage-report.sh BUILD_DIR [SRC_DIR]
set -eu
build=${1:?usage: coverage-report.sh BUILD_DIR [SRC_DIR]}
src=$(cd "${2:-$build/..}" && pwd)
cd "$build"
# From the .gcno notes, so a file no test ran at all shows as 0 % instead of not at all.
[ -n "$(find . -name '*.gcda' | head -n1)" ] ||
    { echo "coverage-report: no .gcda files under $build: run the tests first" >&2; exit 1; }
notes=$(find . -name '*.gcno' | sort)

# gcov -t prints each object's annotated sources to stdout: "COUNT:LINE:text", where COUNT is
# "-" (no code), "#####"/"=====" (never run) or a number; "-:0:Source:PATH" opens a file.
for g in $notes; do
    gcov -t -o "$(dirname "$g")" "$g" 2>/dev/null || true
done | awk -v src="$src/" -v missed="$build/coverage-missed.txt" '
function norm(p) {
    if (index(p, src) == 1) p = substr(p, length(src) + 1)
    while (p ~ /^\.\.\//) p = substr(p, 4)
    sub(/^\.\//, "", p)
    return p
}
/^ *-: *0:Source:/ { f = norm(substr($0, index($0, "Source:") + 7)); next }
{
    if (f !~ /^(core|providers|plugins)\/.*\.c$/) next
    n = split($0, part, ":")
    if (n < 3) next
    c = part[1]; gsub(/[ *]/, "", c); l = part[2] + 0
    if (l == 0 || c == "-") next
    k = f SUBSEP l
    if (!(k in exe)) { exe[k] = 1; lines[f]++ }
    if (c ~ /^[0-9]+$/ && c + 0 > 0 && !(k in cov)) { cov[k] = 1; hit[f]++ }
}
END {
    printf "" > missed
    for (k in exe)
        if (!(k in cov)) { split(k, kl, SUBSEP); print kl[1] ":" kl[2] > missed }
    for (f in lines) {
        h = hit[f] + 0
        printf "%6.1f %6d %6d  %s\n", 100 * h / lines[f], lines[f], h, f
        split(f, d, "/"); tl[d[1]] += lines[f]; th[d[1]] += h
    }
    for (d0 in tl)
        printf "TOTAL %s %d %d\n", d0, tl[d0], th[d0] > "/dev/stderr"
}' 2>"$build/coverage-totals.tmp" | sort -n >"$build/coverage-files.tmp"

printf '%6s %6s %6s  %s\n' '%' lines covered file
cat "$build/coverage-files.tmp"
echo
awk '{ printf "total %-10s %6d lines, %6d covered, %5.1f %%\n", $2 "/", $3, $4, 100 * $4 / $3 }' \
    "$build/coverage-totals.tmp" | sort
rm -f "$build/coverage-files.tmp" "$build/coverage-totals.tmp"
