#!/usr/bin/env bash
# `cargoman sign` against an independent HMAC (python3): every provider's headers, and GitLab
# Standard Webhooks signing tokens longer than any fixed buffer (a 600-byte key once
# overflowed a 256-byte stack array; keys past 1,024 base64 characters were refused).
. "$(dirname "$0")/lib.sh"
need python3

BIN="$CM_BUILDDIR/cargoman"
printf '{"object_kind":"push"}' >"$TMP/body.json"

# gitlab_case BYTES: sign with a random key of BYTES bytes, compare with python's HMAC.
gitlab_case() {
    local token out want
    token=whsec_$(python3 -c "import base64,os; print(base64.b64encode(os.urandom($1)).decode())")
    out=$("$BIN" sign -p gitlab -s "$token" -i msg_long -t 1700000000 "$TMP/body.json" 2>&1)
    expect_eq "sign -p gitlab with a $1-byte key exits 0" "$?" 0
    want=$(python3 - "$token" "$TMP/body.json" <<'PY'
import base64, hashlib, hmac, sys
key = base64.b64decode(sys.argv[1][6:])
body = open(sys.argv[2], "rb").read()
mac = hmac.new(key, b"msg_long.1700000000." + body, hashlib.sha256).digest()
print("v1," + base64.b64encode(mac).decode())
PY
)
    expect_contains "sign -p gitlab with a $1-byte key signs right" "$out" \
        "webhook-signature: $want"
}
gitlab_case 32
gitlab_case 600
gitlab_case 3000

want=$(python3 -c "import hmac,hashlib,sys; print(hmac.new(b'k'*500, open(sys.argv[1],'rb').read(), hashlib.sha256).hexdigest())" "$TMP/body.json")
out=$("$BIN" sign -p github -s "$(printf 'k%.0s' $(seq 500))" "$TMP/body.json")
expect_contains "sign -p github with a long secret" "$out" "X-Hub-Signature-256: sha256=$want"

out=$("$BIN" sign -p gitlab -s 'whsec_not*base64' "$TMP/body.json" 2>&1)
expect_eq "a token that is not base64 is a user error" "$?" 1
expect_contains "and says what is wrong" "$out" "not whsec_ followed by base64"
finish
