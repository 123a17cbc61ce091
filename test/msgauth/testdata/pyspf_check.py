#!/usr/bin/python3
"""Run pyspf (Debian python3-spf) check2 for each line of stdin,
"IP SENDER HELO", asking the DNS server given as HOST:PORT (the tests'
loopback DNS) through dnspython. Prints one result per line (pass, fail,
softfail, neutral, none, permerror, temperror)."""
import sys

import dns.resolver
import spf

host, port = sys.argv[1].rsplit(":", 1)
res = dns.resolver.Resolver(configure=False)
res.nameservers = [host]
res.port = int(port)
res.lifetime = 10
# pyspf asks dns.resolver's default resolver.
dns.resolver.default_resolver = res

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    ip, sender, helo = line.split(" ")
    result, _ = spf.check2(i=ip, s=sender, h=helo)
    print(result)
