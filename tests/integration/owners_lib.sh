# Helpers for the Composer ownership tests (composer_owners.sh, composer_gone.sh,
# hostile/gone.sh): Bitbucket
# Data Center endpoints fetching from the git daemon, signed pushes of new tags, and what the
# gateway publishes and says about owners. Needs lib.sh, $SECRET, $U and a started git daemon.

# dc_conf NAME: a Data Center endpoint fetching from the git daemon
dc_conf() {
    cat <<CONF
endpoint = { name = "$1"; provider = "bitbucket-datacenter"; url = "https://bitbucket.example.com";
             secret = "$SECRET"; clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
}

# hook ENDPOINT KEY/SLUG ID TAG [CLONE_URL [SHA]]: a signed Data Center push of that new tag
# (at SHA, else at the work tree's tag), naming CLONE_URL (else the host's usual one).
hook() {
    local f id sha
    f=$(mktemp "$TMP/hook.XXXXXX")
    id="ow-$(date +%s%N)-$RANDOM"
    sha=${6:-$(git -C "$TMP/work/$2" rev-parse "$4")}
    python3 - "$2" "$3" "$4" "$sha" "${5:-}" >"$f" <<'PY'
import json, sys
name, rid, tag, new, href = sys.argv[1:6]
key, slug = name.split("/")
href = href or "https://bitbucket.example.com/scm/%s/%s.git" % (key.lower(), slug)
print(json.dumps({"eventKey": "repo:refs_changed", "date": "2024-05-02T09:15:00+0000",
  "actor": {"name": "t"},
  "repository": {"slug": slug, "id": int(rid), "name": slug, "scmId": "git",
                 "project": {"key": key}, "links": {"clone": [{"name": "http", "href": href}]}},
  "changes": [{"ref": {"id": "refs/tags/" + tag, "displayId": tag, "type": "TAG"},
               "refId": "refs/tags/" + tag, "fromHash": "0" * 40, "toHash": new,
               "type": "ADD"}]}))
PY
    local -a h=(-H 'X-Event-Key: repo:refs_changed' -H "X-Request-Id: $id")
    while IFS= read -r line; do h+=(-H "$line"); done \
        < <("$INST_BIN" sign -P "$INST_PLUGINS" -p bitbucket-datacenter -s "$SECRET" "$f")
    post "$1" "$f" "${h[@]}"
}
# repo KEY/SLUG PACKAGE TAG: a repository whose composer.json names PACKAGE, tagged and pushed.
repo() {
    [ -d "$TMP/work/$1" ] || new_repo_at "$1" "$TMP/work/$1"
    echo "{\"name\": \"$2\", \"description\": \"$1 $3\"}" >"$TMP/work/$1/composer.json"
    git -C "$TMP/work/$1" add composer.json && git -C "$TMP/work/$1" commit -qm "$3"
    git -C "$TMP/work/$1" tag "$3"
    git -C "$TMP/work/$1" push -q origin main "$3" 2>/dev/null
}
p2() { curl -sf "$U/p2/$1.json"; }
p2_has() { p2 "$1" | grep -q "\"$2\""; }
owner_of() { # PACKAGE: its owner as GET /api/composer/owners says ("" when none)
    curl -sf "$U/api/composer/owners" | python3 -c '
import json, sys
print("".join(o["owner"] for o in json.load(sys.stdin)["owners"] if o["package"] == sys.argv[1]))' "$1"
}
owner_is() { [ "$(owner_of "$1")" = "$2" ]; }
logged() { grep -q "$1" "$TMP/gateway.log"; }
