#!/usr/bin/python3
"""Parse every Authentication-Results field of the messages named on the
command line (Maildir files) with a strict RFC 8601 parser: python3's
authres (Debian python3-authres). Prints one line per field: "ok <file>
<authserv-id> <method>=<result> ..." or "bad <file> <error>: <field>".
Exit 0 when every field parsed (and each file has at least one), 1
otherwise."""
import sys

import authres

ok = True
for path in sys.argv[1:]:
    data = open(path, "rb").read().replace(b"\r\n", b"\n")
    head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields, cur = [], None
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            cur += " " + line.strip()
            continue
        if cur is not None:
            fields.append(cur)
        cur = line
    if cur is not None:
        fields.append(cur)
    found = 0
    for f in fields:
        if not f.lower().startswith("authentication-results:"):
            continue
        found += 1
        try:
            h = authres.AuthenticationResultsHeader.parse(f)
            print("ok %s %s %s" % (path, h.authserv_id,
                  " ".join("%s=%s" % (r.method, r.result) for r in h.results)))
        except Exception as e:
            ok = False
            print("bad %s %s: %s" % (path, e, f))
    if found == 0:
        ok = False
        print("bad %s no Authentication-Results field" % path)
sys.exit(0 if ok else 1)
