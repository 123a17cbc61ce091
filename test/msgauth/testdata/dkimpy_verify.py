#!/usr/bin/python3
"""Verify every DKIM signature of the message on stdin, or of each FILE,
with dkimpy (Debian python3-dkim), asking the DNS server given as
HOST:PORT (the tests' loopback DNS) for the keys:

    dkimpy_verify.py HOST:PORT [FILE...]

Prints one line per signature: "<index> pass|fail a=<alg> d=<domain>
s=<selector>", after "FILE: " when files are given (one process for many
messages: a Python start costs seconds on a loaded machine). Exit 0 when
every signature passed, 1 otherwise."""
import sys

import dkim
import dns.resolver

host, port = sys.argv[1].rsplit(":", 1)
res = dns.resolver.Resolver(configure=False)
res.nameservers = [host]
res.port = int(port)


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        ans = res.resolve(name, "TXT", lifetime=timeout)
    except Exception:
        return b""
    for rd in ans:
        return b"".join(rd.strings)
    return b""


def verify(msg, label):
    # A Maildir copy has LF line ends; on the wire (and for DKIM) they are CRLF.
    msg = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head = msg.split(b"\r\n\r\n", 1)[0]
    count = sum(1 for line in head.split(b"\r\n") if line.lower().startswith(b"dkim-signature:"))
    if count == 0:
        print(label + "no DKIM-Signature")
        return False
    ok = True
    for i in range(count):
        d = dkim.DKIM(msg)
        good = d.verify(idx=i, dnsfunc=dnsfunc)
        f = d.signature_fields or {}
        print("%s%d %s a=%s d=%s s=%s" % (label, i, "pass" if good else "fail",
              f.get(b"a", b"").decode(), f.get(b"d", b"").decode(), f.get(b"s", b"").decode()))
        ok = ok and good
    return ok


files = sys.argv[2:]
if files:
    results = []
    for name in files:
        with open(name, "rb") as fh:
            results.append(verify(fh.read(), name + ": "))
    ok = all(results)
else:
    ok = verify(sys.stdin.buffer.read(), "")
sys.exit(0 if ok else 1)
