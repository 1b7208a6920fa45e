#!/usr/bin/env bash
# Renames and transfers keep their history. For each provider that sends an immutable
# repository id (GitHub repository.id, GitLab project.id, Bitbucket Cloud repository.uuid,
# Data Center repository.id), a signed push under the old name publishes v1.0.0; the repository
# is then renamed on the git daemon and a signed push under the new name, with the same id,
# brings v1.1.0. The mirror moves (no second clone), the Composer package keeps v1.0.0 and gains
# v1.1.0, and /api/repositories shows the new name with the old one as an alias. Then the
# attacks: a new repository that takes a renamed repository's old name cannot publish its
# package, and on an endpoint without a secret a payload claiming another repository's id
# moves nothing. A restart keeps all of it.
. "$(dirname "$0")/lib.sh"
need curl python3 git

install_gateway
start_git_daemon
SECRET="rename test secret"

mkdir -p "$TMP/conf"
PORT=$(free_port)
cat >"$TMP/conf/00-server.conf" <<CONF
server = { workers = 2; reconcile_interval = 0; };
CONF
endpoint_conf() { # NAME PROVIDER URL [SECRET]
    cat <<CONF
endpoint = { name = "$1"; provider = "$2"; url = "$3"; ${4:+secret = \"$4\";}
             clone_url = "git://127.0.0.1:$GIT_PORT/{repository}.git"; };
CONF
}
endpoint_conf gh github https://github.com "$SECRET" >"$TMP/conf/10-gh.conf"
endpoint_conf gl gitlab https://gitlab.example.com "$SECRET" >"$TMP/conf/11-gl.conf"
endpoint_conf bbc bitbucket-cloud https://bitbucket.org "$SECRET" >"$TMP/conf/12-bbc.conf"
endpoint_conf dc bitbucket-datacenter https://bitbucket.example.com "$SECRET" >"$TMP/conf/13-dc.conf"
endpoint_conf open github https://github.com >"$TMP/conf/14-open.conf"
echo "sync = ( { plugin = \"composer\"; base_url = \"http://127.0.0.1:$PORT\"; } );" \
    >"$TMP/conf/20-sync.conf"
start_gateway "$TMP/conf" "$TMP/data"

# payload PROVIDER NAME ID REF OLD NEW: a push delivery body of that host.
payload() {
    python3 - "$@" <<'PY'
import json, sys
prov, name, rid, ref, old, new = sys.argv[1:7]
z = "0" * 40
old = old or z
short = ref.split("/", 2)[2]
kind = "tag" if ref.startswith("refs/tags/") else "branch"
if prov == "github":
    d = {"ref": ref, "before": old, "after": new, "created": old == z, "deleted": False,
         "forced": False, "compare": "", "pusher": {"name": "t"}, "sender": {"login": "t"},
         "repository": {"id": int(rid), "full_name": name,
                        "clone_url": "https://github.com/%s.git" % name,
                        "html_url": "https://github.com/" + name}}
elif prov == "gitlab":
    d = {"object_kind": "tag_push" if kind == "tag" else "push",
         "event_name": "tag_push" if kind == "tag" else "push", "before": old, "after": new,
         "ref": ref, "checkout_sha": new, "user_username": "t", "project_id": int(rid),
         "project": {"id": int(rid), "path_with_namespace": name,
                     "git_http_url": "https://gitlab.example.com/%s.git" % name,
                     "web_url": "https://gitlab.example.com/" + name},
         "commits": [], "total_commits_count": 0}
elif prov == "bitbucket-cloud":
    side = lambda h: {"type": kind, "name": short, "target": {"type": "commit", "hash": h}}
    d = {"push": {"changes": [{"old": None if old == z else side(old), "new": side(new),
                               "created": old == z, "closed": False, "forced": False,
                               "truncated": False}]},
         "repository": {"type": "repository", "full_name": name, "uuid": rid, "scm": "git",
                        "links": {"html": {"href": "https://bitbucket.org/" + name}}},
         "actor": {"display_name": "t"}}
else:
    key, slug = name.split("/")
    d = {"eventKey": "repo:refs_changed", "date": "2024-05-02T09:15:00+0000",
         "actor": {"name": "t"},
         "repository": {"slug": slug, "id": int(rid), "name": slug, "scmId": "git",
                        "project": {"key": key},
                        "links": {"clone": [{"name": "http", "href":
                            "https://bitbucket.example.com/scm/%s/%s.git" % (key.lower(), slug)}]}},
         "changes": [{"ref": {"id": ref, "displayId": short, "type": kind.upper()},
                      "refId": ref, "fromHash": old, "toHash": new,
                      "type": "ADD" if old == z else "UPDATE"}]}
print(json.dumps(d))
PY
}

# hook ENDPOINT PROVIDER NAME ID REF OLD NEW [SECRET]: send that push, signed with SECRET
# (the test's by default; "-" for none); prints "CODE BODY".
hook() {
    local ep=$1 prov=$2 secret=${8:-$SECRET} f id
    f=$(mktemp "$TMP/hook.XXXXXX")
    id="rn-$(date +%s%N)-$RANDOM"
    payload "$prov" "$3" "$4" "$5" "$6" "$7" >"$f"
    local -a h=()
    case $prov in
    github) h=(-H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $id") ;;
    gitlab) h=(-H "X-Gitlab-Event: $([ "${5#refs/tags/}" != "$5" ] && echo 'Tag Push Hook' || echo 'Push Hook')" -H "X-Gitlab-Event-UUID: $id") ;;
    bitbucket-cloud) h=(-H 'X-Event-Key: repo:push' -H "X-Request-UUID: $id" -H "X-Hook-UUID: $id") ;;
    bitbucket-datacenter) h=(-H 'X-Event-Key: repo:refs_changed' -H "X-Request-Id: $id") ;;
    esac
    if [ "$secret" != - ]; then
        while IFS= read -r line; do h+=(-H "$line"); done \
            < <("$INST_BIN" sign -P "$INST_PLUGINS" -p "$prov" -s "$secret" "$f")
    fi
    post "$ep" "$f" "${h[@]}"
}

# repo PATH PACKAGE: a repository on the git daemon whose composer.json names PACKAGE, tagged
# v1.0.0 and pushed.
repo() {
    new_repo_at "$1" "$TMP/work/$1"
    echo "{\"name\": \"$2\", \"description\": \"$1\"}" >"$TMP/work/$1/composer.json"
    git -C "$TMP/work/$1" add composer.json && git -C "$TMP/work/$1" commit -qm one
    git -C "$TMP/work/$1" tag v1.0.0
    git -C "$TMP/work/$1" push -q origin main v1.0.0 2>/dev/null
}
p2() { curl -sf "http://127.0.0.1:$PORT/p2/$1.json"; }
p2_has() { p2 "$1" | grep -q "\"$2\""; }
mirror() { echo "$TMP/data/mirrors/$1.git"; }
# repositories EP NAME: the /api/repositories entry of EP/NAME as compact JSON ("" if none).
repositories() {
    curl -sf "http://127.0.0.1:$PORT/api/repositories" | python3 -c '
import json, sys
ep, name = sys.argv[1:3]
doc = json.load(sys.stdin)
rows = doc.get("repositories", doc) if isinstance(doc, dict) else doc
rows = rows.values() if isinstance(rows, dict) else rows
for r in rows:
    if r.get("endpoint") == ep and r.get("repository") == name:
        print(json.dumps({"repository_id": r.get("repository_id"), "aliases": r.get("aliases")}))' "$1" "$2"
}

# case EP PROVIDER OLD NEW ID PACKAGE: the rename, end to end.
case_rename() {
    local ep=$1 prov=$2 old=$3 new=$4 id=$5 pkg=$6 w r first
    repo "$old" "$pkg"
    w="$TMP/work/$old"
    r=$(hook "$ep" "$prov" "$old" "$id" refs/tags/v1.0.0 "" "$(git -C "$w" rev-parse v1.0.0)")
    expect_eq "$prov: push under $old queued" "${r%% *}" 202
    if wait_for p2_has "$pkg" v1.0.0; then ok "$prov: $pkg v1.0.0 published from $old"
    else not_ok "$prov: $pkg v1.0.0 not published"; tail -20 "$TMP/gateway.log"; fi
    first=$(stat -c %i "$(mirror "$ep/$old")/objects")

    # Renamed (or moved to another owner) on the host; then a new tag under the new name.
    mkdir -p "$(dirname "$TMP/git/$new.git")" "$(dirname "$TMP/work/$new")"
    mv "$TMP/git/$old.git" "$TMP/git/$new.git"
    mv "$w" "$TMP/work/$new"
    w="$TMP/work/$new"
    git -C "$w" remote set-url origin "$(git_url "$new")"
    echo "{\"name\": \"$pkg\", \"description\": \"$new\"}" >"$w/composer.json"
    git -C "$w" commit -qam two && git -C "$w" tag v1.1.0 && git -C "$w" push -q origin main v1.1.0 2>/dev/null
    r=$(hook "$ep" "$prov" "$new" "$id" refs/tags/v1.1.0 "" "$(git -C "$w" rev-parse v1.1.0)")
    expect_eq "$prov: push under $new queued" "${r%% *}" 202
    if wait_for p2_has "$pkg" v1.1.0; then ok "$prov: $pkg v1.1.0 published from $new"
    else not_ok "$prov: $pkg v1.1.0 not published after the rename"; tail -20 "$TMP/gateway.log"; fi
    if p2_has "$pkg" v1.0.0; then ok "$prov: $pkg keeps v1.0.0"; else not_ok "$prov: v1.0.0 lost"; fi
    expect_contains "$prov: versions name the new repository" "$(p2 "$pkg")" "$new.git"
    if [ -d "$(mirror "$ep/$new")" ] && [ ! -e "$(mirror "$ep/$old")" ]; then
        ok "$prov: the mirror moved from $old to $new"
    else
        not_ok "$prov: mirror not moved"; find "$TMP/data/mirrors/$ep" -maxdepth 3
    fi
    expect_eq "$prov: the moved mirror is the same one (not cloned again)" \
        "$(stat -c %i "$(mirror "$ep/$new")/objects" 2>/dev/null)" "$first"
    expect_eq "$prov: /api/repositories shows $new with $old as alias" "$(repositories "$ep" "$new")" \
        "{\"repository_id\": \"$id\", \"aliases\": [\"$old\"]}"
    expect_eq "$prov: and no entry for $old" "$(repositories "$ep" "$old")" ""
    expect_contains "$prov: the log says so" "$(cat "$TMP/gateway.log")" \
        "$old was renamed to $new (repository id $id): mirror moved"
}

case_rename gh github acme/widget-gh acme/widget-gh-2 4242001 acme/widget-gh
case_rename gl gitlab grp/sub/widget-gl other-grp/widget-gl 4242002 acme/widget-gl
case_rename bbc bitbucket-cloud ws/widget-bbc ws2/widget-bbc "{5b0d1c7e-4d1a-4e0b-9a5c-2f1e7d3c9b11}" acme/widget-bbc
case_rename dc bitbucket-datacenter PLAT/widget-dc OPS/widget-dc 4242004 acme/widget-dc

# A new repository takes the old name (another id) and claims the same package: refused, the
# renamed repository keeps it, and the new one's mirror replaces nothing of the package.
repo acme/widget-gh acme/widget-gh
w="$TMP/work/acme/widget-gh"
echo '{"name": "acme/widget-gh", "description": "impostor"}' >"$w/composer.json"
git -C "$w" commit -qam impostor && git -C "$w" tag v9.9.9 && git -C "$w" push -q origin main v9.9.9 2>/dev/null
r=$(hook gh github acme/widget-gh 4242999 refs/tags/v9.9.9 "" "$(git -C "$w" rev-parse v9.9.9)")
expect_eq "a new repository under the old name is queued" "${r%% *}" 202
noted() { curl -sf "http://127.0.0.1:$PORT/api/repositories" | grep -q 'already published from gh:acme/widget-gh-2#4242001'; }
if wait_for noted; then ok "its package claim is refused, naming the renamed owner"
else not_ok "no refusal note"; curl -s "http://127.0.0.1:$PORT/api/repositories"; fi
if p2_has acme/widget-gh v9.9.9; then not_ok "the impostor's v9.9.9 is published"
else ok "the impostor's v9.9.9 is not published"; fi
expect_contains "and the owner's description stays" "$(p2 acme/widget-gh)" '"description":"acme/widget-gh-2"'
expect_eq "the new repository's mirror carries its own id" \
    "$(git --git-dir="$(mirror gh/acme/widget-gh)" config cargoman.id)" 4242999

# A rename whose first push under the new name brings nothing new (the commit is already in
# the mirror: no fetch is needed) still republishes: the versions name the new repository.
repo acme/still acme/still
w="$TMP/work/acme/still"
r=$(hook gh github acme/still 4242600 refs/tags/v1.0.0 "" "$(git -C "$w" rev-parse v1.0.0)")
if wait_for p2_has acme/still v1.0.0; then ok "acme/still published"; else not_ok "acme/still not published"; fi
mv "$TMP/git/acme/still.git" "$TMP/git/acme/still-2.git"
r=$(hook gh github acme/still-2 4242600 refs/tags/v1.0.0 "" "$(git -C "$w" rev-parse v1.0.0)")
expect_eq "the same tag under the new name is queued" "${r%% *}" 202
renamed_src() { p2 acme/still | grep -q 'acme/still-2.git'; }
if wait_for renamed_src; then ok "with nothing new to fetch, the versions still name acme/still-2"
else not_ok "the package still names the old repository: $(p2 acme/still)"; fi

# Renamed on the host with no push since, and an attacker creates a repository under the old
# name with a package of the same name. Nothing vouches for the name now: a resync of it (what
# reconciliation also queues) must not publish the attacker's history, and the mirror's refs
# stay as they were.
api() { curl -s "http://127.0.0.1:$PORT$1"; }
py() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
repo acme/quiet acme/quiet
w="$TMP/work/acme/quiet"
r=$(hook gh github acme/quiet 4242500 refs/tags/v1.0.0 "" "$(git -C "$w" rev-parse v1.0.0)")
if wait_for p2_has acme/quiet v1.0.0; then ok "acme/quiet v1.0.0 published"; else not_ok "acme/quiet not published"; fi
quiet_rec=$(api "/api/deliveries?endpoint=gh&repository=acme/quiet" | py "d['deliveries'][0]['record_id']")
quiet_tag=$(git --git-dir="$(mirror gh/acme/quiet)" rev-parse v1.0.0)
mv "$TMP/git/acme/quiet.git" "$TMP/git/acme/quiet-2.git"
mv "$w" "$TMP/work/acme/quiet-2"
git -C "$TMP/work/acme/quiet-2" remote set-url origin "$(git_url acme/quiet-2)"
new_repo_at acme/quiet "$TMP/work/evil-quiet"
echo '{"name": "acme/quiet", "description": "EVIL"}' >"$TMP/work/evil-quiet/composer.json"
git -C "$TMP/work/evil-quiet" add composer.json && git -C "$TMP/work/evil-quiet" commit -qm evil
git -C "$TMP/work/evil-quiet" tag v1.0.0 && git -C "$TMP/work/evil-quiet" tag v6.6.6
git -C "$TMP/work/evil-quiet" push -q origin main v1.0.0 v6.6.6 2>/dev/null
r=$(curl -s -X POST "http://127.0.0.1:$PORT/api/repositories/gh/acme/quiet/resync")
rec=$(echo "$r" | py "d['record_id']")
failed_rec() { [ "$(api "/api/deliveries/$1" | py "d['state']")" = failed ]; }
if wait_for failed_rec "$rec"; then ok "a resync of the taken name fails"
else not_ok "the resync did not fail: $(api "/api/deliveries/$rec")"; fi
expect_contains "saying the history does not continue" "$(api "/api/deliveries/$rec")" \
    "does not continue this mirror's history (branch main was rewritten, not moved forward)"
if p2_has acme/quiet v6.6.6 || p2 acme/quiet | grep -q EVIL; then not_ok "the attacker's history is published"
else ok "nothing of the attacker's history is published"; fi
expect_eq "the mirror's tag is put back" "$(git --git-dir="$(mirror gh/acme/quiet)" rev-parse v1.0.0)" "$quiet_tag"
expect_eq "and the attacker's tag is not kept" \
    "$(git --git-dir="$(mirror gh/acme/quiet)" rev-parse -q --verify refs/tags/v6.6.6 || echo none)" none

# The real repository pushes under its new name: the mirror moves and publishes again.
w="$TMP/work/acme/quiet-2"
git -C "$w" commit -q --allow-empty -m two && git -C "$w" tag v1.1.0 && git -C "$w" push -q origin main v1.1.0 2>/dev/null
r=$(hook gh github acme/quiet-2 4242500 refs/tags/v1.1.0 "" "$(git -C "$w" rev-parse v1.1.0)")
if wait_for p2_has acme/quiet v1.1.0; then ok "acme/quiet-2 publishes v1.1.0 of acme/quiet"
else not_ok "acme/quiet-2 did not publish"; tail -5 "$TMP/gateway.log"; fi

# A replay of the first delivery (old name, same id) is fetched from the present name: the
# mirror is not moved back onto the attacker's repository.
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/deliveries/$quiet_rec/replay")
expect_eq "the old delivery is replayed" "$r" 202
said() { grep -q "acme/quiet is an earlier name of acme/quiet-2 (repository id 4242500)" "$TMP/gateway.log"; }
if wait_for said; then ok "it is synced under the present name"; else not_ok "no line for the replay"; fi
if [ -d "$(mirror gh/acme/quiet-2)" ] && [ ! -e "$(mirror gh/acme/quiet)" ]; then ok "the mirror stays at acme/quiet-2"
else not_ok "the mirror moved back"; fi
if p2_has acme/quiet v6.6.6 || p2 acme/quiet | grep -q EVIL; then not_ok "the replay published the attacker's history"
else ok "the replay published nothing of the attacker's"; fi
if p2_has acme/quiet v1.1.0; then ok "acme/quiet keeps v1.1.0"; else not_ok "v1.1.0 lost"; fi

# Without a secret anyone can post: a payload claiming acme/lib's id for evil/lib moves nothing.
repo acme/lib acme/lib
r=$(hook open github acme/lib 777 refs/tags/v1.0.0 "" "$(git -C "$TMP/work/acme/lib" rev-parse v1.0.0)" -)
expect_eq "unsigned push for acme/lib queued" "${r%% *}" 202
if wait_for p2_has acme/lib v1.0.0; then ok "acme/lib published"; else not_ok "acme/lib not published"; fi
repo evil/lib acme/lib
r=$(hook open github evil/lib 777 refs/tags/v1.0.0 "" "$(git -C "$TMP/work/evil/lib" rev-parse v1.0.0)" -)
expect_eq "unsigned push for evil/lib claiming acme/lib's id queued" "${r%% *}" 202
synced() { [ -d "$(mirror open/evil/lib)" ] && grep -q 'open/evil/lib synced\|evil/lib: ' "$TMP/gateway.log"; }
wait_for synced >/dev/null
if [ -d "$(mirror open/acme/lib)" ]; then ok "acme/lib's mirror stayed where it was"
else not_ok "acme/lib's mirror was moved by an unsigned payload"; fi
expect_eq "no id was recorded from the unsigned endpoint" \
    "$(git --git-dir="$(mirror open/acme/lib)" config cargoman.id || echo none)" none
refused() { curl -sf "http://127.0.0.1:$PORT/api/repositories" | grep -q 'already published from open:acme/lib;'; }
if wait_for refused; then ok "evil/lib cannot publish acme/lib"; else not_ok "evil/lib was not refused"; fi

# The endpoint gets a secret (as after an upgrade from a version that kept no ids): the first
# signed push binds acme/lib's name to its id, and its package stays published from it.
endpoint_conf open github https://github.com "$SECRET" >"$TMP/conf/14-open.conf"
kill -HUP "$GW_PID"
reloaded() { grep -q "SIGHUP: configuration reloaded" "$TMP/gateway.log"; }
wait_for reloaded || not_ok "no reload"
w="$TMP/work/acme/lib"
git -C "$w" commit -q --allow-empty -m two && git -C "$w" tag v1.1.0 && git -C "$w" push -q origin v1.1.0 2>/dev/null
r=$(hook open github acme/lib 777 refs/tags/v1.1.0 "" "$(git -C "$w" rev-parse v1.1.0)")
expect_eq "signed push for acme/lib queued" "${r%% *}" 202
if wait_for p2_has acme/lib v1.1.0; then ok "acme/lib keeps its package once its id is known"
else not_ok "acme/lib v1.1.0 not published"; tail -20 "$TMP/gateway.log"; fi
state="$TMP/data/plugins/composer"
[ -d "$state" ] || state=$(dirname "$(find "$TMP/data" -name packages.json | head -n1)")
if [ -f "$state/repos/open/id=777.json" ] && [ ! -e "$state/repos/open/acme%2Flib.json" ]; then
    ok "its state is now kept by id"
else
    not_ok "state not moved to the id"; find "$state/repos/open"
fi

expect_contains "six mirrors moved, counted" "$(curl -sf "http://127.0.0.1:$PORT/metrics")" \
    'cargoman_mirror_renames_total{result="moved"} 6'

# After a restart: aliases, ids and package ownership come back from disk, and the next push
# under the new name publishes as before.
stop_gateway
start_gateway "$TMP/conf" "$TMP/data"
alias_back() { [ "$(repositories gh acme/widget-gh-2)" = '{"repository_id": "4242001", "aliases": ["acme/widget-gh"]}' ]; }
if wait_for alias_back; then ok "after a restart, gh/acme/widget-gh-2 still has its alias"
else not_ok "alias lost at restart: $(repositories gh acme/widget-gh-2)"; fi
w="$TMP/work/acme/widget-gh-2"
git -C "$w" commit -q --allow-empty -m three && git -C "$w" tag v1.2.0 && git -C "$w" push -q origin v1.2.0 2>/dev/null
r=$(hook gh github acme/widget-gh-2 4242001 refs/tags/v1.2.0 "" "$(git -C "$w" rev-parse v1.2.0)")
if wait_for p2_has acme/widget-gh v1.2.0; then ok "after the restart the renamed repository still owns its package"
else not_ok "v1.2.0 not published after the restart"; tail -20 "$TMP/gateway.log"; fi

stop_gateway
finish
