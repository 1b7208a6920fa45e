#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The gateway's mirrors against git on generated repositories served by `git daemon` on
# 127.0.0.1: first mirror vs `git clone --mirror`, one pushed commit vs `git fetch`, and a dist
# zip of a commit holding a big file vs `git archive` (bench/mirror_bench does the runs).
# Usage: bench/mirror.sh BUILD_DIR [COMMITS] [FILES] [ROUNDS] [BIG_MB]
#        defaults: 100000 commits, 30000 files, 3 rounds, 200 MiB; BIG_MB=0 skips the zip
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:?usage: bench/mirror.sh BUILD_DIR [COMMITS] [FILES] [ROUNDS] [BIG_MB]}" && pwd)
COMMITS=${2:-100000}
FILES=${3:-30000}
ROUNDS=${4:-3}
BIG=${5:-200}
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/cm-mirror-bench.XXXXXX")
trap '[ -f "$TMP/gitd.pid" ] && kill "$(cat "$TMP/gitd.pid")" 2>/dev/null; rm -rf "$TMP"' EXIT

make -s -C "$BUILD" bench/mirror_bench >/dev/null
mkdir -p "$TMP/git" "$TMP/work"
t0=$(date +%s.%N)
"$HERE/gen_repo.sh" "$TMP/git" "$COMMITS" "$FILES"
t1=$(date +%s.%N)
echo "generated $COMMITS commits, $FILES files ($(du -sm "$TMP/git/base.git" | cut -f1) MiB" \
    "packed) in $(printf '%.1f' "$(echo "$t1 - $t0" | bc -l)") s"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
git daemon --export-all --base-path="$TMP/git" --listen=127.0.0.1 --port="$PORT" --reuseaddr \
    --pid-file="$TMP/gitd.pid" --detach "$TMP/git"
until git ls-remote "git://127.0.0.1:$PORT/base.git" >/dev/null 2>&1; do sleep 0.1; done

"$BUILD/bench/mirror_bench" first "git://127.0.0.1:$PORT/base.git" "$TMP/work" "$ROUNDS"
"$BUILD/bench/mirror_bench" incremental "git://127.0.0.1:$PORT/base.git" \
    "git://127.0.0.1:$PORT/next.git" "$TMP/work" "$ROUNDS"
if [ "$BIG" -gt 0 ]; then
    rm -rf "$TMP/work"/*
    "$HERE/gen_repo.sh" --big "$TMP/git" "$BIG"
    echo "zip of a commit with a $BIG MiB file and 3 small ones:"
    "$BUILD/bench/mirror_bench" zip "git://127.0.0.1:$PORT/big.git" \
        "$(git -C "$TMP/git/big.git" rev-parse main)" "$TMP/work" "$ROUNDS"
    echo "zip of the head of the generated repository ($FILES small files):"
    "$BUILD/bench/mirror_bench" zip "git://127.0.0.1:$PORT/base.git" \
        "$(git -C "$TMP/git/base.git" rev-parse main)" "$TMP/work" "$ROUNDS"
fi
