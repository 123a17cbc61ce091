#!/usr/bin/python3
"""Makes the signed messages of this directory with dkimpy (Debian
python3-dkim), an implementation we did not write, and zone.txt with the
key records their verification needs. Run once; the outputs are kept so
that the test does not depend on dkimpy. verdicts.txt says what each must
give."""
import base64, subprocess
import dkim, nacl.signing

subprocess.run(["openssl", "genrsa", "-out", "rsa.key", "2048"], check=True, capture_output=True)
rsa_key = open("rsa.key", "rb").read()
pub = subprocess.run(["openssl", "rsa", "-in", "rsa.key", "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
sk = nacl.signing.SigningKey.generate()
ed_key = base64.b64encode(bytes(sk))
ed_pub = base64.b64encode(bytes(sk.verify_key)).decode()

zone = [
    'rsa1._domainkey.sender.example. 3600 IN TXT "v=DKIM1; k=rsa; p=%s"' % base64.b64encode(pub).decode(),
    'ed1._domainkey.sender.example. 3600 IN TXT "v=DKIM1; k=ed25519; p=%s"' % ed_pub,
    'gone._domainkey.sender.example. 3600 IN TXT "v=DKIM1; k=rsa; p="',
]
open("zone.txt", "w").write("\n".join(zone) + "\n")

body = (b"From: Sender <news@sender.example>\r\nTo: reader@ebb.example\r\nSubject: the weekly news\r\n"
        b"Date: Tue, 01 Dec 2026 08:00:00 +0000\r\nMessage-ID: <w49@sender.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nThis week:  two  spaces   and trailing ones   \r\n\r\n\r\n")
hdrs = [b"from", b"to", b"subject", b"date", b"message-id"]


def sign(msg, sel, key, canon=(b"relaxed", b"relaxed"), alg=b"rsa-sha256", length=False):
    return dkim.sign(msg, sel, b"sender.example", key, canonicalize=canon, signature_algorithm=alg,
                     include_headers=hdrs, length=length) + msg


out = {
    "rsa-relaxed.eml": sign(body, b"rsa1", rsa_key),
    "ed25519-relaxed.eml": sign(body, b"ed1", ed_key, alg=b"ed25519-sha256"),
    "rsa-simple.eml": sign(body, b"rsa1", rsa_key, canon=(b"simple", b"simple")),
    "rsa-body-length.eml": sign(body, b"rsa1", rsa_key, length=True),
    "revoked.eml": sign(body, b"gone", rsa_key),
}
out["both.eml"] = sign(sign(body, b"ed1", ed_key, alg=b"ed25519-sha256"), b"rsa1", rsa_key)
out["rsa-tampered.eml"] = out["rsa-relaxed.eml"].replace(b"This week:", b"This weak:")
for name, data in out.items():
    open(name, "wb").write(data)
