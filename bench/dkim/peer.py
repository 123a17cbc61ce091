#!/usr/bin/python3
"""The peer of bench/dkim: dkimpy (Debian python3-dkim) signs and verifies
the messages main.go wrote, relaxed/relaxed with the same header list, the
key records answered from memory as main.go does. Prints per-message
medians in the same form."""
import os, statistics, sys, time
import dkim

d, n = sys.argv[1], int(sys.argv[2])
hdrs = [b"from", b"from", b"reply-to", b"to", b"cc", b"subject", b"date", b"message-id", b"in-reply-to",
        b"references", b"mime-version", b"content-type", b"content-transfer-encoding", b"content-disposition"]
for alg in ("ed25519", "rsa"):
    key = open(os.path.join(d, alg + ".peerkey"), "rb").read()
    txt = open(os.path.join(d, alg + ".txt"), "rb").read()
    sa = b"ed25519-sha256" if alg == "ed25519" else b"rsa-sha256"
    for size in (4, 1024):
        name = "%s-%dk" % (alg, size)
        msg = open(os.path.join(d, name + ".eml"), "rb").read()
        signed = open(os.path.join(d, name + ".signed.eml"), "rb").read()
        st, vt = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            sig = dkim.sign(msg, b"s" + alg.encode(), b"bench.example", key, canonicalize=(b"relaxed", b"relaxed"),
                            signature_algorithm=sa, include_headers=hdrs)
            st.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ok = dkim.verify(signed, dnsfunc=lambda name, timeout=5: txt)
            vt.append(time.perf_counter() - t0)
            if not ok:
                sys.exit("dkimpy does not verify " + name)
        print("dkimpy %s sign %.3f ms verify %.3f ms" % (name, statistics.median(st) * 1000, statistics.median(vt) * 1000))
