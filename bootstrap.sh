#!/bin/sh
# One entry point for a fresh Debian/Ubuntu checkout (README "Quick start"):
#   ./bootstrap.sh run    install what is missing, build, serve on 127.0.0.1:8080 (conf.d/, ./var)
#   ./bootstrap.sh test   install what is missing, build with -Werror, run the whole test suite
# On other systems it prints the packages to install and stops.
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential autoconf automake libtool pkg-config
 libmicrohttpd-dev libgit2-dev libjansson-dev libssl-dev libconfig-dev libarchive-dev check
 git curl python3 composer unzip lighttpd openssh-server openssh-client"

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

build() {
    [ -x configure ] || ./autogen.sh
    [ -f Makefile ] || ./configure "$@"
    make -j"$(nproc 2>/dev/null || echo 2)"
}

case "${1:-}" in
run)
    install_packages
    build
    exec make run
    ;;
test)
    install_packages
    [ -f Makefile ] && grep -q -- '--enable-werror' config.status 2>/dev/null || rm -f Makefile
    build --enable-werror
    make -j2 check
    make check-sanitize
    ;;
*)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
