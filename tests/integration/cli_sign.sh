#!/usr/bin/env bash
# `cargoman sign` against an independent HMAC (python3): every provider's headers, made by the
# provider's own sign hook (SDK 1.2), and GitLab Standard Webhooks signing tokens longer than any
# fixed buffer (a 600-byte key once overflowed a 256-byte stack array; keys past 1,024 base64
# characters were refused). A provider without a sign hook gets a clear error.
. "$(dirname "$0")/lib.sh"
need python3

BIN="$CM_BUILDDIR/cargoman"
MODS="$CM_BUILDDIR/modules"
printf '{"object_kind":"push"}' >"$TMP/body.json"

# gitlab_case BYTES: sign with a random key of BYTES bytes, compare with python's HMAC.
gitlab_case() {
    local token out want
    token=whsec_$(python3 -c "import base64,os; print(base64.b64encode(os.urandom($1)).decode())")
    out=$("$BIN" sign -P "$MODS" -p gitlab -s "$token" -i msg_long -t 1700000000 "$TMP/body.json" 2>&1)
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
out=$("$BIN" sign -P "$MODS" -p github -s "$(printf 'k%.0s' $(seq 500))" "$TMP/body.json")
expect_contains "sign -p github with a long secret" "$out" "X-Hub-Signature-256: sha256=$want"

out=$("$BIN" sign -P "$MODS" -p gitlab -s 'whsec_not*base64' "$TMP/body.json" 2>&1)
expect_eq "a token that is not base64 is a user error" "$?" 1
expect_contains "and says what is wrong" "$out" "not whsec_ followed by base64"

# hub_case PROVIDER HEADER ALGO: the header is "ALGO=<hex HMAC-ALGO of the body>".
hub_case() {
    local want out
    want=$(python3 -c "import hmac,hashlib,sys; print(hmac.new(b'hub-secret', open(sys.argv[1],'rb').read(), hashlib.$3).hexdigest())" "$TMP/body.json")
    out=$("$BIN" sign -P "$MODS" -p "$1" -s hub-secret "$TMP/body.json")
    expect_contains "sign -p $1 prints $2 ($3)" "$out" "$2: $3=$want"
}
hub_case github X-Hub-Signature-256 sha256
hub_case github X-Hub-Signature sha1
hub_case bitbucket-cloud X-Hub-Signature sha256
hub_case bitbucket-datacenter X-Hub-Signature sha256
out=$("$BIN" sign -P "$MODS" -p gitlab -s plain-token "$TMP/body.json")
expect_eq "sign -p gitlab with a secret token prints it" "$out" "X-Gitlab-Token: plain-token"

# A provider with no sign hook (built without one, or against SDK 1.0) cannot sign, and the
# CLI says so rather than guess a scheme.
mkdir -p "$TMP/third/providers"
for m in t_good t_v10; do
    ln -s "$CM_BUILDDIR/tests/modules/.libs/$m.so" "$TMP/third/providers/$m.so"
    out=$("$BIN" sign -P "$TMP/third" -p "$m" -s k "$TMP/body.json" 2>&1)
    expect_eq "sign -p $m (no sign hook) exits 1" "$?" 1
    expect_contains "and says it has no sign hook" "$out" "\"$m\" cannot sign: it has no sign hook"
done
out=$("$BIN" sign -P "$TMP/third" -p gitea -s k "$TMP/body.json" 2>&1)
expect_eq "sign for a provider that is not there exits 1" "$?" 1
expect_contains "and names where it looked" "$out" "no gitea.so in $TMP/third/providers"
finish
