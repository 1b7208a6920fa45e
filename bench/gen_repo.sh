#!/bin/sh
# SPDX-License-Identifier: MIT
# Generated repositories for bench/mirror.sh, made with `git fast-import` in seconds:
#   gen_repo.sh DIR COMMITS FILES   DIR/base.git: COMMITS commits on main, the first adding FILES
#                                   files of ~150 bytes in 300 directories, each later one changing
#                                   one file; DIR/next.git: the same plus one commit (the push of
#                                   the incremental case)
#   gen_repo.sh --big DIR MB        DIR/big.git: one commit with a file of MB MiB and 3 small ones
set -eu

stream() { # COMMITS FILES START: a fast-import stream on refs/heads/main
    LC_ALL=C awk -v commits="$1" -v files="$2" -v start="$3" '
    function body(f, rev,   s, j) {
        s = rev ? sprintf("file %d revision %d\n", f, rev) : ""
        for (j = 0; j < 5; j++)
            s = s sprintf("file %d line %d of the generated benchmark repository\n", f, j)
        return s
    }
    function path(f) { return sprintf("src/d%03d/file%05d.txt", f % 300, f) }
    function put(f, rev,   s) {
        s = body(f, rev)
        printf "M 100644 inline %s\ndata %d\n%s\n", path(f), length(s), s
    }
    BEGIN {
        for (i = start; i < start + commits; i++) {
            msg = sprintf("commit %d\n", i)
            printf "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\n", \
                1700000000 + i
            printf "data %d\n%s", length(msg), msg
            if (i == 0) {
                if (start == 0)
                    for (f = 0; f < files; f++)
                        put(f, 0)
            } else {
                put((i * 7919) % files, i)
            }
            printf "\n"
        }
    }'
}

if [ "${1:-}" = "--big" ]; then
    dir=$2 mb=$3
    rm -rf "$dir/big.git"
    git init -q --bare "$dir/big.git"
    {
        printf 'commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\n'
        printf 'data 4\nbig\n'
        for f in README.md composer.json src/a.php; do
            printf 'M 100644 inline %s\ndata 6\nsmall\n\n' "$f"
        done
        printf 'M 100644 inline data/big.bin\ndata %d\n' $((mb * 1048576))
        # Text that deflate shrinks only a little, like a real asset: not one repeated byte.
        head -c $((mb * 1048576)) /dev/urandom | base64 -w 76 | head -c $((mb * 1048576))
        printf '\n'
    } | git -C "$dir/big.git" fast-import --quiet
    git -C "$dir/big.git" symbolic-ref HEAD refs/heads/main
    exit 0
fi

dir=$1 commits=$2 files=$3
mkdir -p "$dir"
rm -rf "$dir/base.git" "$dir/next.git"
git init -q --bare "$dir/base.git"
git -C "$dir/base.git" symbolic-ref HEAD refs/heads/main
stream "$commits" "$files" 0 | git -C "$dir/base.git" fast-import --quiet
# fast-import deltas only against the object before: a repack gives the pack a server keeps.
git -C "$dir/base.git" repack -adq
cp -a "$dir/base.git" "$dir/next.git"
{
    printf 'commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\n' \
        $((1700000000 + commits))
    printf 'data 5\npush\n'
    printf 'from refs/heads/main^0\n'
    printf 'M 100644 inline PUSHED.txt\ndata 7\npushed\n\n'
} | git -C "$dir/next.git" fast-import --quiet
