#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the fuzz targets with clang's libFuzzer, ASan and UBSan, compiling the core, provider
# and plugin sources they need straight from the source tree, then fuzz each target for
# FUZZ_SECONDS from its seeds (seeds.sh), its corpus and its regressions. `make fuzz` runs it.
# usage: tests/fuzz/run.sh [-b] [TARGET...]      -b: build only; no TARGET: all of tests/fuzz/targets
# Environment: FUZZ_SECONDS (30), FUZZ_JOBS (targets fuzzed at once, 2), FUZZ_DIR (./_fuzz),
#   FUZZ_CC (clang), CM_FUZZ_LIB_CFLAGS / CM_FUZZ_LIBS (the libraries' flags, make passes
#   configure's), CM_SHARED_FIXTURES (more seeds, when the directory exists).
# Exit status: 0 no target crashed, 1 one did (its input is in FUZZ_DIR/crashes/TARGET/),
#   2 a build failed, 77 clang or libFuzzer is missing.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=${FUZZ_DIR:-$(pwd)/_fuzz}
cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
libs=${CM_FUZZ_LIBS:--lmicrohttpd -lgit2 -ljansson -lcrypto -lconfig -larchive -lz -lpthread}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# The loader's built-in plugin directory (configure's CM_PLUGIN_DIR): one that does not exist,
# as in a build tree; given by a header, since cflags passes through a shell more than once.
cflags="-std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE= -include $dir/dirs.h \
 -I$src/include -I$src/core -I$src/providers/common -I$src/plugins/composer -I$src/tests -I$src/tests/fuzz \
 ${CM_FUZZ_LIB_CFLAGS:-}"

# The provider a target fuzzes (target github: providers/github/), or nothing.
provider() {
    p=$(printf '%s' "$1" | tr _ -)
    if [ -d "$src/providers/$p" ] && [ "$p" != common ]; then echo "$p"; fi
}

# One target's fuzzing run, in the background of the main run (xargs calls us back). Each
# run replaces the target's crashes/ (a crash found earlier was reported then).
if [ "${1:-}" = --fuzz-one ]; then
    t=$2
    rm -rf "$dir/crashes/$t"
    mkdir -p "$dir/corpus/$t" "$dir/crashes/$t"
    set -- "$dir/corpus/$t" "$dir/seeds/$t"
    for d in "$src/tests/fuzz/corpus/$t" "$src/tests/fuzz/regressions/$t"; do
        [ -d "$d" ] && set -- "$@" "$d"
    done
    [ -z "$(provider "$t")" ] || set -- -dict="$src/tests/fuzz/provider.dict" "$@"
    rc=0
    LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
    "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/$t/" "$@" \
        >"$dir/logs/$t.log" 2>&1 </dev/null || rc=$?
    echo "$rc" >"$dir/logs/$t.status"
    exit 0
fi

build_only=
if [ "${1:-}" = -b ]; then
    build_only=1
    shift
fi
if [ $# -eq 0 ]; then
    set -- $(grep -v '^#' "$src/tests/fuzz/targets")
fi
mkdir -p "$dir/obj" "$dir/logs" "$dir/seeds"

printf '%s\n' '#define CM_PLUGIN_DIR "/nonexistent/cargoman-fuzz"' \
    '#define CM_CONF_DIR "/nonexistent/cargoman-fuzz"' >"$dir/dirs.h"

# Can this clang link a libFuzzer program at all?
probe=$dir/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(d && n) * 0; }' >"$probe"
if ! command -v "$cc" >/dev/null 2>&1 ||
    ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$dir/probe" >"$dir/logs/probe.log" 2>&1; then
    echo "fuzz: SKIP: $cc cannot build libFuzzer programs; install the Debian packages clang and" \
        "libclang-rt-14-dev (see $dir/logs/probe.log)" >&2
    exit 77
fi

# The core, once, as an archive: each target links only the objects it uses.
newer() { # newer FILE PATH...: a source under PATH is newer than FILE (or FILE is missing)
    f=$1
    shift
    [ ! -e "$f" ] || [ -n "$(find "$@" -newer "$f" \( -name '*.c' -o -name '*.h' \) 2>/dev/null | head -n 1)" ]
}
lib=$dir/libcore.a
if newer "$lib" "$src/core" "$src/include"; then
    echo "fuzz: compiling the core with $cc"
    rm -f "$dir"/obj/*.o "$lib"
    # Every part of core/ but the command line (its main would clash with libFuzzer's); the
    # object is named after the folder too, so two parts may have a file of one name.
    for f in "$src"/core/*.c "$src"/core/*/*.c; do
        case $f in "$src"/core/cli/*) continue ;; esac
        printf '%s\n' "$f"
    done | xargs -P "$jobs" -I{} sh -c \
        'o='"$dir"'/obj/$(echo {} | sed "s|^'"$src"'/core/||; s|/|_|g; s|\.c$||").o; '"$cc $cflags $san"' -fsanitize=fuzzer-no-link -c {} -o "$o" || exit 255' ||
        { echo "fuzz: the core does not compile with $cc" >&2; exit 2; }
    ar rcs "$lib" "$dir"/obj/*.o
fi

# What each target compiles besides its fuzz_<target>.c and the core.
sources() {
    p=$(provider "$1")
    if [ -n "$p" ]; then
        echo "$src/tests/fuzz/provider_harness.c $src/providers/$p/$p.c $src/providers/common/*.c"
    elif [ "$1" = composer_version ]; then
        echo "$src/plugins/composer/version.c $src/plugins/composer/vcs.c"
    fi
}

for t in "$@"; do
    [ -f "$src/tests/fuzz/fuzz_$t.c" ] || { echo "fuzz: no tests/fuzz/fuzz_$t.c" >&2; exit 2; }
    bin=$dir/fuzz_$t
    if newer "$bin" "$src/tests/fuzz" "$src/providers" "$src/plugins/composer" ||
        [ -n "$(find "$lib" -newer "$bin")" ]; then
        echo "fuzz: building fuzz_$t"
        # shellcheck disable=SC2046
        $cc $cflags $san -fsanitize=fuzzer "$src/tests/fuzz/fuzz_$t.c" $(sources "$t") "$lib" \
            $libs -o "$bin" || { echo "fuzz: fuzz_$t does not build" >&2; exit 2; }
    fi
done
[ -z "$build_only" ] || exit 0

for t in "$@"; do
    rm -rf "$dir/seeds/$t" "$dir/logs/$t.status"
    sh "$src/tests/fuzz/seeds.sh" "$t" "$dir/seeds/$t"
done
echo "fuzz: fuzzing $# targets for ${seconds}s each, $jobs at a time (logs in $dir/logs)"
printf '%s\n' "$@" | xargs -P "$jobs" -I{} sh "$0" --fuzz-one {}

failed=0
for t in "$@"; do
    rc=$(cat "$dir/logs/$t.status" 2>/dev/null || echo 1)
    stats=$(grep -E '^stat::number_of_executed_units' "$dir/logs/$t.log" | sed 's/.*: *//')
    cov=$(grep -oE 'cov: [0-9]+' "$dir/logs/$t.log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $t: ok, ${stats:-?} runs, $cov"
    else
        failed=1
        echo "fuzz: $t: FAILED (libFuzzer exit $rc); the input is in $dir/crashes/$t/:" >&2
        ls "$dir/crashes/$t" >&2
        grep -E 'ERROR|invariant broken|SUMMARY|runtime error' "$dir/logs/$t.log" | head -n 20 >&2
        echo "  see $dir/logs/$t.log; once fixed, add the input to tests/fuzz/regressions/$t/" >&2
    fi
done
exit $failed
