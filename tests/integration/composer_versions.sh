#!/usr/bin/env bash
# The oracle test: for a repository with many odd tags and branches, the gateway publishes the
# same version list that composer itself derives from a `vcs` repository at the same git URL.
. "$(dirname "$0")/lib.sh"
need curl python3 git composer

install_gateway
start_git_daemon
URL=$(git_url acme/odd)
W="$TMP/odd"
new_repo_at acme/odd "$W"
step=0
# at REF...: a new commit on the current branch, then each REF as a lightweight tag.
at() {
    step=$((step + 1))
    printf '{"name": "acme/odd", "description": "odd refs", "extra": {"step": %d}}\n' "$step" >"$W/composer.json"
    git -C "$W" add composer.json && git -C "$W" commit -qm "step $step"
    for t in "$@"; do git -C "$W" tag "$t"; done
}
at v1.0.0 1.0.1 v1.1.0-RC2 1.2.0-beta1 release-2.0.0 2.1 v3.0.0-alpha.1 4.0.0-dev foo
at v5.0.0-patch1 6.0.0-p2 2010-01-01 v1.2.3.4 1.0.0-stable V8.0 1.0.0.0.0 7.0-rc
# A tag whose composer.json names another version is skipped, as composer does.
printf '{"name": "acme/odd", "version": "9.9.9"}\n' >"$W/composer.json"
git -C "$W" commit -qam "versioned" && git -C "$W" tag v9.0.0
# A tag without a valid composer.json is skipped too.
echo '{broken' >"$W/composer.json" && git -C "$W" commit -qam broken && git -C "$W" tag v10.0.0
git -C "$W" checkout -q -b 1.x v1.0.0
git -C "$W" checkout -q -b 2.0 v1.0.0
git -C "$W" checkout -q -b v7.x v1.0.0
git -C "$W" checkout -q -b feature/odd-name v1.0.0
git -C "$W" checkout -q -b dev v1.0.0
git -C "$W" checkout -q -b 3.x-dev v1.0.0
git -C "$W" checkout -q main
git -C "$W" reset -q --hard 6.0.0-p2
git -C "$W" push -q "$URL" --all
git -C "$W" push -q "$URL" --tags

start_composer_gateway gitlab gitlab https://gitlab.example.com

# One GitLab push hook for main; the mirror is new, so every ref is read.
python3 - "$(git -C "$W" rev-parse main)" >"$TMP/hook.json" <<'PY'
import json, sys
print(json.dumps({"object_kind": "push", "event_name": "push", "before": "0" * 40,
  "after": sys.argv[1], "ref": "refs/heads/main", "checkout_sha": sys.argv[1],
  "user_username": "t", "project_id": 7, "project": {"id": 7, "path_with_namespace": "acme/odd",
  "git_http_url": "https://gitlab.example.com/acme/odd.git",
  "git_ssh_url": "git@gitlab.example.com:acme/odd.git", "web_url": "https://gitlab.example.com/acme/odd"},
  "commits": [], "total_commits_count": 0}))
PY
r=$(post gitlab "$TMP/hook.json" -H 'X-Gitlab-Event: Push Hook')
expect_eq "push hook queued" "${r%% *}" 202
published() { curl -sf "http://127.0.0.1:$PORT/p2/acme/odd~dev.json" | grep -q dev-main; }
for _ in $(seq 1 150); do published && break; sleep 0.2; done

export COMPOSER_HOME="$TMP/composer-home" COMPOSER_CACHE_DIR="$TMP/composer-cache" COMPOSER_ALLOW_SUPERUSER=1
# versions_from REPOSITORIES_JSON: composer's version list for acme/odd, one per line, sorted.
versions_from() {
    local d
    d=$(mktemp -d "$TMP/project.XXXXXX")
    printf '{"repositories": [%s, {"packagist.org": false}], "config": {"secure-http": false}, "minimum-stability": "dev"}\n' "$1" >"$d/composer.json"
    (cd "$d" && composer show -a acme/odd --format=json 2>"$d/err") |
        python3 -c 'import json,sys; [print(v) for v in sorted(json.load(sys.stdin)["versions"])]' \
        || cat "$d/err" >&2
}
gw=$(versions_from "{\"type\": \"composer\", \"url\": \"http://127.0.0.1:$PORT\"}")
vcs=$(versions_from "{\"type\": \"vcs\", \"url\": \"$URL\"}")
echo "gateway: $(echo $gw)"
echo "vcs:     $(echo $vcs)"
[ -n "$vcs" ] && ok "composer derived versions from the vcs repository" || not_ok "composer's vcs run gave nothing"
expect_eq "the gateway publishes exactly composer's own version list" "$gw" "$vcs"
r=$(curl -s "http://127.0.0.1:$PORT/api/repositories")
expect_contains "the skipped tag's reason is visible" "$r" "refs/tags/v10.0.0"
stop_gateway
finish
