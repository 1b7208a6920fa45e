# SPDX-License-Identifier: MIT
# Helpers for crash.sh: a fast webhook client that records what was acknowledged, a killer
# that sends SIGKILL once the daemon is seen inside a given kind of work, and the Composer
# index consistency check. Standard library only.
import glob, hashlib, json, os, random, signal, sys, threading, time, urllib.error, urllib.request

Z = "0" * 40


def dc_body(repo, changes):
    project, slug = repo.split("/")
    return json.dumps({
        "eventKey": "repo:refs_changed", "date": "2024-05-02T09:15:00+0000",
        "actor": {"name": "t", "id": 1, "slug": "t", "type": "NORMAL"},
        "repository": {"slug": slug, "id": 1, "name": slug, "scmId": "git",
                       "project": {"key": project, "id": 1, "name": project},
                       "links": {"clone": [], "self": []}},
        "changes": changes}).encode()


def change(ref, old, new):
    kind = "TAG" if ref.startswith("refs/tags/") else "BRANCH"
    typ = "ADD" if old == Z else "DELETE" if new == Z else "UPDATE"
    return {"ref": {"id": ref, "displayId": ref.split("/", 2)[2], "type": kind}, "refId": ref,
            "fromHash": old, "toHash": new, "type": typ}


def post(port, endpoint, body, delivery):
    req = urllib.request.Request("http://127.0.0.1:%s/api/webhooks/%s" % (port, endpoint),
                                 data=body, method="POST", headers={
                                     "Content-Type": "application/json",
                                     "X-Event-Key": "repo:refs_changed",
                                     "X-Request-Id": delivery})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:
        return 0


def cmd_burst(port, endpoint, tag, count, pad, *heads):
    """POST count deliveries from 8 threads, each for a random REPO=COMMIT of heads: main
    moves to COMMIT, plus pad deletions of refs that never existed (they weigh on the journal
    and are at once 'arrived'). Prints 'REPO COMMIT' for each 202."""
    count, pad = int(count), int(pad)
    pairs = [h.split("=", 1) for h in heads]
    lock, out, left = threading.Lock(), [], [count]

    def work():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
                n = left[0]
            repo, commit = random.choice(pairs)
            changes = [change("refs/heads/main", "1" * 40, commit)]
            changes += [change("refs/heads/pad/%s/%d/%04d-%s" % (tag, n, i, "x" * 60), "2" * 40, Z)
                        for i in range(pad)]
            code = post(port, endpoint, dc_body(repo, changes), "%s-%d-%d" % (tag, n, os.getpid()))
            if code == 202:
                with lock:
                    out.append("%s %s" % (repo, commit))
            elif code == 0:
                return  # the daemon is gone: stop, nothing more can be acknowledged
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("\n".join(out))


def cmd_tags(port, endpoint, repo, delivery, *pairs):
    """One delivery creating each REF=COMMIT. Prints the HTTP status."""
    changes = [change(p.split("=", 1)[0], Z, p.split("=", 1)[1]) for p in pairs]
    print(post(port, endpoint, dc_body(repo, changes), delivery))


def seen(mode, data):
    if mode == "compaction":
        # Each rewrite makes a new journal.new (the last one was renamed away): count inodes.
        try:
            return ["journal.new@%d" % os.stat(os.path.join(data, "spool", "journal.new")).st_ino]
        except OSError:
            return []
    if mode == "fetch":
        return (glob.glob(os.path.join(data, "mirrors/*/*/*.git/objects/pack/pack_git2_*")) +
                glob.glob(os.path.join(data, "mirrors/*/*/*.git/objects/pack/*.lock")) +
                glob.glob(os.path.join(data, "mirrors/*/*/*.git/FETCH_HEAD")))
    # publish: a dist zip or a p2/state file being written
    return (glob.glob(os.path.join(data, "composer/dist/*/*/*.tmp-*")) +
            glob.glob(os.path.join(data, "composer/p2/*/*.tmp.*")) +
            glob.glob(os.path.join(data, "composer/repos/*/*.tmp.*")))


def gone(pid):
    """The daemon ended on its own (a zombie until the shell reaps it, or reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def cmd_kill(pid, mode, data, max_delay, nth):
    """SIGKILL pid once the nth distinct file of mode's work is seen, or after max_delay s.
    Prints 'inside' or 'timer'."""
    pid, end, nth = int(pid), time.time() + float(max_delay), int(nth)
    names = set()
    while time.time() < end:
        if gone(pid):
            print("died")
            return
        names.update(seen(mode, data))
        if len(names) >= nth:
            os.kill(pid, signal.SIGKILL)
            print("inside")
            return
        time.sleep(0.0005)
    os.kill(pid, signal.SIGKILL)
    print("timer")


def get(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.read()


def expand(mini):
    cur, out = None, []
    for v in mini:
        if cur is None:
            cur = dict(v)
        else:
            for k, val in v.items():
                if val == "__unset":
                    cur.pop(k, None)
                else:
                    cur[k] = val
        out.append(dict(cur))
    return out


def cmd_check(base, state_dir, final, *want):
    """The index as composer sees it: every listed package's p2 file exists on disk and
    parses, every version's dist URL answers with the bytes of its shasum. With final=1 the
    list is exactly the p2 files on disk and each WANT=VERSION is published. Prints problems
    (nothing when consistent)."""
    bad = []
    listed = json.loads(get(base + "/packages.json")).get("available-packages", [])
    on_disk = sorted(os.path.relpath(p, os.path.join(state_dir, "p2"))[:-5]
                     for p in glob.glob(os.path.join(state_dir, "p2/*/*.json"))
                     if not p.endswith("~dev.json"))
    if final == "1" and sorted(listed) != on_disk:
        bad.append("packages.json lists %s, p2 files are %s" % (sorted(listed), on_disk))
    versions = {}
    for name in listed:
        for suffix in ("", "~dev"):
            try:
                doc = json.loads(get("%s/p2/%s%s.json" % (base, name, suffix)))
            except urllib.error.HTTPError as e:
                if not suffix or e.code != 404:
                    bad.append("p2/%s%s.json: HTTP %d" % (name, suffix, e.code))
                continue
            except ValueError as e:
                bad.append("p2/%s%s.json does not parse: %s" % (name, suffix, e))
                continue
            for v in expand(doc["packages"][name]):
                versions.setdefault(name, set()).add(v["version"])
                dist = v.get("dist")
                if not dist:
                    bad.append("%s %s has no dist" % (name, v["version"]))
                    continue
                try:
                    sha = hashlib.sha1(get(dist["url"])).hexdigest()
                except Exception as e:
                    bad.append("%s %s: dist %s: %s" % (name, v["version"], dist["url"], e))
                    continue
                if sha != dist["shasum"]:
                    bad.append("%s %s: dist %s does not match its shasum" %
                               (name, v["version"], dist["url"]))
    for w in want if final == "1" else ():
        name, version = w.split("=", 1)
        if version not in versions.get(name, ()):
            bad.append("%s %s is not published" % (name, version))
    print("\n".join(bad[:20]))


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
