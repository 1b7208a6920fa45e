#!/bin/sh
# One entry point for a fresh Debian/Ubuntu checkout (README "Quick start"):
#   ./bootstrap.sh run    install what is missing, build, serve on 127.0.0.1:8080 (conf.d/, ./var)
#   ./bootstrap.sh check  install what is missing, build, and run `cargoman check` on the
#                         shipped conf.d/ with the plugins just built (what `run` would serve)
#   ./bootstrap.sh test   install what is missing, build with -Werror, check the C layout, run
#                         the whole test suite, the daemon's tests again under valgrind, the
#                         fault tests that mount a tmpfs (make check-faults; run as root), the
#                         suite built with -fsanitize=address,undefined, then 30 s of libFuzzer
#                         on each fuzz target (docs/fuzzing.md)
# Builds go to _build/ and _sanitize/, so the source tree stays unconfigured.
# On other systems it prints the packages to install and stops.
set -eu
cd "$(dirname "$0")"
top=$(pwd)

# contrib/packages.txt is the one list of what a fresh machine needs; .ci/run reads it too.
PACKAGES=$(sed -e 's/#.*//' contrib/packages.txt)

install_packages() {
    missing=
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: not a Debian/Ubuntu system; install the equivalents of:$missing" >&2
        exit 1
    fi
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "bootstrap: installing$missing"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
}

# build DIR CONFIGURE-ARGS...: configure (again when the arguments changed) and make in DIR.
build() {
    dir=$1
    shift
    [ -x configure ] || ./autogen.sh
    if [ -f config.status ]; then
        echo "bootstrap: the source tree itself is configured; run 'make distclean' first" >&2
        exit 1
    fi
    mkdir -p "$dir"
    if ! [ -f "$dir/Makefile" ] || [ "$(cat "$dir/.bootstrap-args" 2>/dev/null)" != "$*" ]; then
        (cd "$dir" && "$top/configure" -q "$@")
        echo "$*" >"$dir/.bootstrap-args"
    fi
    make -C "$dir" -j"$(nproc 2>/dev/null || echo 2)"
}

case "${1:-}" in
run)
    install_packages
    build _build
    exec _build/cargoman serve -c conf.d -l 127.0.0.1:8080 -d ./var -P "$top/_build/modules"
    ;;
check)
    install_packages
    build _build
    exec _build/cargoman check -c conf.d -P "$top/_build/modules"
    ;;
test)
    install_packages
    build _build --enable-werror
    make -C _build check-format
    make -C _build -j2 check
    make -C _build check-valgrind
    make -C _build check-faults
    build _sanitize --enable-werror --enable-sanitizers
    ASAN_OPTIONS=detect_leaks=1 make -C _sanitize -j2 check
    make -C _build fuzz FUZZ_SECONDS=30
    ;;
*)
    echo "usage: $0 run|check|test" >&2
    exit 2
    ;;
esac
