#!/usr/bin/env bash
# The hostile-input test: every attack of docs/SECURITY.md performed against the real daemon
# on loopback, one part per area (tests/integration/hostile/*.sh, each with its own daemon and
# scratch dir). Every part must pass; a part that cannot run here (not root, a tool missing)
# skips visibly, and the whole test then reports a skip only when every part skipped.
set -u
dir=$(dirname "$0")/hostile
status=0 ran=0 skipped=0
for part in "$dir"/*.sh; do
    [ -f "$part" ] || continue
    echo "=== $(basename "$part")"
    bash "$part"
    rc=$?
    case $rc in
    0) ran=$((ran + 1)) ;;
    77) skipped=$((skipped + 1)); echo "SKIP: $(basename "$part")" ;;
    *) status=1; echo "FAIL: $(basename "$part") (exit $rc)" ;;
    esac
done
echo "hostile: $ran parts passed, $skipped skipped"
[ "$status" -ne 0 ] && exit 1
[ "$ran" -eq 0 ] && exit 77
exit 0
