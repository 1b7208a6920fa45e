#!/bin/sh
# SPDX-License-Identifier: MIT
# Assemble the seed inputs of one fuzz target into OUTDIR from the project's own fixtures
# (tests/cases, tests/fixtures, conf.d), and from the shared captures in $CM_SHARED_FIXTURES
# when that directory exists. Nothing is copied into the source tree; hand-written seeds that
# no fixture holds are files in tests/fuzz/corpus/TARGET/ instead.
# usage: tests/fuzz/seeds.sh TARGET OUTDIR
set -eu
target=$1
out=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=${CM_SHARED_FIXTURES:-$src/../shared/fixtures}
[ -d "$shared" ] || shared=
mkdir -p "$out"

# A provider delivery from a tests/cases/*.case: its header: lines, an empty line, its body.
case_seed() {
    body=
    text=
    headers=
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in
        "header: "*) headers="$headers${line#header: }
" ;;
        "body: local "*) body=$src/tests/fixtures/${line#body: local } ;;
        "body: shared "*) [ -n "$shared" ] && body=$shared/${line#body: shared } || return 0 ;;
        "body-text: "*) text=${line#body-text: } ;;
        esac
    done <"$1"
    [ -z "$body" ] || [ -f "$body" ] || return 0
    {
        printf '%s\n' "$headers"
        if [ -n "$body" ]; then cat "$body"; else printf '%s' "$text"; fi
    } >"$2"
}

# Each file of dir ($1) as a seed named prefix ($2)-name, with what $3 puts before it.
file_seeds() {
    [ -d "$1" ] || return 0
    for f in "$1"/*; do
        [ -f "$f" ] || continue
        { printf '%s' "$3"; cat "$f"; } >"$out/$2-$(basename "$f")"
    done
}

# Target github fuzzes providers/github/, bitbucket_cloud providers/bitbucket-cloud/...
provider=$(printf '%s' "$target" | tr _ -)
[ -d "$src/providers/$provider" ] && [ "$provider" != common ] && target=provider

case $target in
provider)
    for c in "$src/tests/cases/$provider"/*.case; do
        case_seed "$c" "$out/case-$(basename "$c" .case)"
    done
    file_seeds "$src/tests/fixtures/$provider" fixture '
'
    [ -z "$shared" ] || file_seeds "$shared/$provider" shared '
'
    ;;
form)
    # Form bodies as GitHub sends them, and JSON bodies both bare and put after payload=.
    for c in "$src/tests/cases/github"/form-*.case; do
        case_seed "$c" "$out/tmp"
        [ -f "$out/tmp" ] && sed '1,/^$/d' "$out/tmp" >"$out/case-$(basename "$c" .case)"
        rm -f "$out/tmp"
    done
    file_seeds "$src/tests/fixtures/github" json ''
    file_seeds "$src/tests/fixtures/gitlab" payload 'payload='
    [ -z "$shared" ] || for f in "$shared"/github/*form*; do
        [ -f "$f" ] && cp "$f" "$out/shared-$(basename "$f")"
    done
    ;;
json_scan)
    # Every provider's JSON fixtures, as they are.
    for d in "$src/tests/fixtures"/*/; do
        file_seeds "$d" "json-$(basename "$d")" ''
    done
    ;;
url)
    # Every URL the fixtures, cases, shipped config and URL tests spell, one a seed; a few
    # with a second URL and a repository name on the next lines.
    n=0
    grep -rhoE '"([a-z+]+://|[A-Za-z0-9._~-]+@)[^" ]*"' "$src/tests/fixtures" "$src/tests/cases" \
        "$src/conf.d" "$src/tests/check_url.c" "$src/tests/check_config.c" 2>/dev/null |
        tr -d '"' | sort -u | while IFS= read -r u; do
        n=$((n + 1))
        printf '%s' "$u" >"$out/url-$n"
        printf '%s\nhttps://git.example.com/scm/o/r.git\nPLAT/billing-api' "$u" >"$out/pair-$n"
    done
    ;;
config)
    for d in "$src/conf.d" "$src/tests/fixtures/config"/*; do
        for f in "$d"/*.conf; do
            [ -f "$f" ] && cp "$f" "$out/$(basename "$d")-$(basename "$f")"
        done
    done
    # Each case's endpoint settings inside an endpoint, as check_providers does.
    for c in "$src/tests/cases"/*/*.case; do
        grep -q '^config: ' "$c" || continue
        p=$(basename "$(dirname "$c")")
        {
            printf 'endpoint = { name = "e"; provider = "%s";\n' "$p"
            sed -n 's/^config: //p' "$c"
            printf '};\n'
        } >"$out/case-$p-$(basename "$c" .case)"
    done
    ;;
composer_version)
    n=0
    grep -v '^#' "$src/tests/fixtures/composer/version-names.txt" | while IFS= read -r v; do
        n=$((n + 1))
        printf '%s' "$v" >"$out/name-$n"
    done
    ;;
*)
    echo "seeds.sh: unknown target \"$target\" (see tests/fuzz/targets)" >&2
    exit 2
    ;;
esac
