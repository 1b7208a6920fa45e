#!/bin/sh
# The first mirror's packed-refs written to a tmpfs that really fills (the check program
# tests/check_mirror_faults.c, built by `make check`). Needs root; skips (77) otherwise.
exec "${CM_BUILDDIR:-.}/tests/check_mirror_faults"
