# SPDX-License-Identifier: MIT
# Send signed GitHub push webhooks, one per line of stdin ("REF OLD NEW [forced]", "-" for no
# id), each with its own delivery id, over one keep-alive connection; prints how many got 202.
#   python3 send_pushes.py PORT ENDPOINT SECRET REPOSITORY < pushes
# (an ENDPOINT starting with "/" is the whole path, for another hook runner)
import hashlib
import hmac
import http.client
import json
import sys
import uuid
import zlib

port, endpoint, secret, repo = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4]
z = "0" * 40
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
accepted = 0
for line in sys.stdin:
    f = line.split()
    if not f:
        continue
    ref, old, new = f[0], z if f[1] == "-" else f[1], z if f[2] == "-" else f[2]
    body = json.dumps({"ref": ref, "before": old, "after": new, "created": old == z,
        "deleted": new == z, "forced": len(f) > 3 and f[3] == "forced", "compare": "",
        "pusher": {"name": "t"}, "sender": {"login": "t"},
        "repository": {"id": zlib.crc32(repo.encode()), "full_name": repo,
                       "clone_url": "https://github.com/%s.git" % repo,
                       "ssh_url": "git@github.com:%s.git" % repo,
                       "html_url": "https://github.com/" + repo}}).encode()
    sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    path = endpoint if endpoint.startswith("/") else "/api/webhooks/" + endpoint
    conn.request("POST", path, body,
                 {"Content-Type": "application/json", "X-GitHub-Event": "push",
                  "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": sig})
    r = conn.getresponse()
    r.read()
    accepted += r.status == 202
print(accepted)
