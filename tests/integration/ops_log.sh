#!/usr/bin/env bash
# What an operator reads: one log line per webhook delivery (key=value, or JSON with
# --log-format=json, where every other line is JSON too) for a signed push, a 401, an ignored
# ping and a refusal whose values a sender chose; and a misspelt config key, which serve
# refuses at start and a SIGHUP refuses while the running configuration keeps serving.
. "$(dirname "$0")/lib.sh"
need curl python3

install_gateway
mkdir -p "$TMP/conf"
# The fetch URL is a closed loopback port: the queued push fails to sync, which is not tested.
cat >"$TMP/conf/10-gh.conf" <<'CONF'
server = { workers = 1; };
endpoint = { name = "gh"; provider = "github"; secret = "s3cret";
             clone_url = "http://127.0.0.1:9/{repository}.git"; };
CONF
github_push o/r 2222222222222222222222222222222222222222 >"$TMP/push.json"
sig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/push.json" | sed -n 's/^X-Hub-Signature-256: //p')
printf '{"zen":"z","hook_id":1,"hook":{"type":"Repository"}}' >"$TMP/ping.json"
psig=$("$INST_BIN" sign -P "$INST_PLUGINS" -p github -s s3cret "$TMP/ping.json" | sed -n 's/^X-Hub-Signature-256: //p')

# deliveries DELIVERY_ID: a signed push, a bad signature, a signed ping, and an endpoint name
# that tries to end its field and start a line of its own (%22 is '"', %0a a newline).
deliveries() {
    r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $sig" \
        -H "X-GitHub-Delivery: $1")
    expect_eq "signed push is queued" "${r%% *}" 202
    r=$(post gh "$TMP/push.json" -H 'X-GitHub-Event: push' -H 'X-Hub-Signature-256: sha256=00')
    expect_eq "bad signature is 401" "${r%% *}" 401
    r=$(post gh "$TMP/ping.json" -H 'X-GitHub-Event: ping' -H "X-Hub-Signature-256: $psig")
    expect_eq "signed ping is ignored (200)" "${r%% *}" 200
    r=$(post 'x%22%20status=999%0acargoman%5binfo%5d%20delivery:%20status=' "$TMP/ping.json")
    expect_eq "unknown endpoint is 404" "${r%% *}" 404
}

# The key=value fields of every delivery line in FILE, one JSON object per line, so the
# checks below read what a log parser would: a quoted value ends only at an unescaped '"'.
kv_lines() {
    python3 - "$1" <<'PY'
import json, re, sys
field = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ "]+)(?: |$)')
# Off the journal every text line starts with its ISO-8601 UTC time.
head = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z cargoman\[info\] delivery: ')
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    m = head.match(line)
    if not m:
        continue
    rest, out = line[m.end():], {}
    while rest:
        m = field.match(rest)
        if not m:
            out["unparsed"] = rest
            break
        k, v = m.group(1), m.group(2)
        if k in out:
            out["duplicate"] = k
        out[k] = None if v == "-" else (v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                                        if v.startswith('"') else int(v))
        rest = rest[m.end():]
    print(json.dumps(out, sort_keys=True))
PY
}

# check_lines WHAT: the four deliveries in $TMP/lines (JSON objects, one per delivery line).
check_lines() {
    local what=$1 got
    got=$(python3 - "$TMP/lines" "$what" <<'PY'
import json, sys
# Text escapes the newline as \x0a inside the quotes; JSON keeps it, escaped by JSON itself.
nl = "\\x0a" if sys.argv[2] == "text" else "\n"
rows = [json.loads(l) for l in open(sys.argv[1])]
def one(**want):
    hits = [r for r in rows if all(r.get(k) == v for k, v in want.items())]
    return "yes" if len(hits) == 1 else "no: %d lines match %r in %r" % (len(hits), want, rows)
print(one(status=202, delivery="d-42", endpoint="gh", repository="o/r", client="127.0.0.1",
          reason=None, via=None))
print(one(status=401, delivery=None, endpoint="gh", repository=None))
print(one(status=200, delivery=None, endpoint="gh", repository=None))
# Every line says why (but the 202) and which record /api/deliveries/<record> shows.
assert all((r.get("reason") is None) == (r.get("status") == 202) for r in rows), rows
assert all(isinstance(r.get("record"), int) and r["record"] > 0 for r in rows), rows
print(one(status=404, endpoint='x" status=999' + nl + 'cargoman[info] delivery: status='))
print("yes" if len(rows) == 4 and all(isinstance(r.get("duration_ms"), int) and
      r["duration_ms"] >= 0 and "unparsed" not in r and "duplicate" not in r for r in rows)
      else "no: %r" % rows)
PY
)
    local i=0
    for w in "signed push: delivery, endpoint, repository, status, client" \
        "401: unknown delivery and repository" "ignored ping" \
        "hostile endpoint name stays one quoted value on one line" \
        "four lines, each with a duration and nothing forged"; do
        i=$((i + 1))
        expect_eq "$what: $w" "$(echo "$got" | sed -n "${i}p")" yes
    done
}

# --- text ---
start_gateway "$TMP/conf" "$TMP/data"
deliveries d-42
wait_for grep -q 'status=404' "$TMP/gateway.log"
kv_lines "$TMP/gateway.log" >"$TMP/lines"
check_lines "text"
expect_eq "the hostile name forges no line" "$(grep -c '^[0-9T:.Z-]* cargoman\[info\] delivery:' "$TMP/gateway.log")" 4
expect_eq "every text line starts with its time" "$(grep -vc '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:.]*Z cargoman\[' "$TMP/gateway.log")" 0

# A misspelt key on SIGHUP: refused with file, line and key; the running endpoint still serves.
cat >"$TMP/conf/20-gl.conf" <<'CONF'
endpoint = { name = "gl"; provider = "gitlab"; secret = "t";
             signing_tokn = "x"; };
CONF
kill -HUP "$GW_PID"
if wait_for grep -q 'keeping the running configuration' "$TMP/gateway.log"; then
    ok "SIGHUP with a misspelt key keeps the running configuration"
else
    not_ok "SIGHUP with a misspelt key: no refusal logged"
fi
expect_contains "and names the file, line and key" "$(cat "$TMP/gateway.log")" \
    '20-gl.conf:2: endpoint "gl" (provider gitlab): unknown key "signing_tokn": did you mean "signing_token"?'
r=$(post gh "$TMP/ping.json" -H 'X-GitHub-Event: ping' -H "X-Hub-Signature-256: $psig")
expect_eq "the running endpoint still answers" "${r%% *}" 200
stop_gateway

# serve refuses to start on it.
"$INST_BIN" serve -c "$TMP/conf" -d "$TMP/data" -l "127.0.0.1:$(free_port)" -P "$INST_PLUGINS" \
    >"$TMP/refused.log" 2>&1
expect_eq "serve with a misspelt key exits 1" "$?" 1
expect_contains "and says which key" "$(cat "$TMP/refused.log")" 'unknown key "signing_tokn"'
rm "$TMP/conf/20-gl.conf"

# --- JSON: the same deliveries, and every line an object with time, level, source, message ---
mv "$TMP/gateway.log" "$TMP/text.log"
rm -rf "$TMP/data"
CM_SERVE_ARGS=--log-format=json start_gateway "$TMP/conf" "$TMP/data"
deliveries d-42
wait_for grep -q '"status":404' "$TMP/gateway.log"
stop_gateway
python3 - "$TMP/gateway.log" >"$TMP/lines" 2>"$TMP/bad" <<'PY'
import json, sys
keys = ("delivery", "endpoint", "repository", "status", "reason", "duration_ms", "client", "via",
        "record")
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    try:
        o = json.loads(line)
    except ValueError:
        print("line %d is not JSON: %r" % (n, line), file=sys.stderr)
        continue
    if not all(isinstance(o.get(k), str) for k in ("time", "level", "source", "message")):
        print("line %d lacks time, level, source or message: %r" % (n, line), file=sys.stderr)
    if o.get("source") == "delivery":
        print(json.dumps({k: o.get(k) for k in keys}))
PY
expect_eq "json: every line is an object with time, level, source and message" "$(cat "$TMP/bad")" ""
check_lines "json"

# A bad --log-format is a usage error.
"$INST_BIN" serve --log-format=xml -c "$TMP/conf" >/dev/null 2>"$TMP/err"
expect_eq "serve --log-format=xml exits 2" "$?" 2
expect_contains "and names the formats" "$(cat "$TMP/err")" "text or json"

finish
