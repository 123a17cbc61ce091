package dane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type issued struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func issue(t *testing.T, cn string, names []string, ca bool, parent *issued, from, to time.Time) *issued {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: names, NotBefore: from, NotAfter: to, IsCA: ca, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	signer, signerKey := tmpl, k
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &k.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: c, key: k}
}

func rec(t *testing.T, usage, sel, typ uint8, c *x509.Certificate) Record {
	t.Helper()
	b, err := hex.DecodeString(Data(c, sel, typ))
	if err != nil {
		t.Fatal(err)
	}
	return Record{Usage: usage, Selector: sel, Type: typ, Data: b}
}

// The usages, selectors and matching types RFC 7672 gives SMTP, each
// against a chain it matches and one it does not, with the RFC 8460
// result type of every failure.
func TestVerify(t *testing.T) {
	valid := [2]time.Time{now.Add(-24 * time.Hour), now.Add(24 * time.Hour)}
	root := issue(t, "Test Root", nil, true, nil, valid[0], valid[1])
	inter := issue(t, "Test Intermediate", nil, true, root, valid[0], valid[1])
	leaf := issue(t, "mx.example.net", []string{"mx.example.net"}, false, inter, valid[0], valid[1])
	other := issue(t, "mx.example.net", []string{"mx.example.net"}, false, inter, valid[0], valid[1])
	wrongName := issue(t, "mail.example.org", []string{"mail.example.org"}, false, inter, valid[0], valid[1])
	expiredLeaf := issue(t, "mx.example.net", []string{"mx.example.net"}, false, inter, now.Add(-48*time.Hour), now.Add(-time.Hour))
	selfSigned := issue(t, "whatever", nil, false, nil, now.Add(-48*time.Hour), now.Add(-time.Hour))
	chain := func(c ...*issued) []*x509.Certificate {
		var out []*x509.Certificate
		for _, x := range c {
			out = append(out, x.cert)
		}
		return out
	}
	names := []string{"mx.example.net", "example.net"}
	for _, tc := range []struct {
		name   string
		chain  []*x509.Certificate
		recs   []Record
		want   string // the record that matched ("" for none)
		result string // the failure's RFC 8460 result
	}{
		{"EE SPKI SHA-256", chain(leaf, inter), []Record{rec(t, 3, 1, 1, leaf.cert)}, "3 1 1", ""},
		{"EE Cert SHA-256", chain(leaf, inter), []Record{rec(t, 3, 0, 1, leaf.cert)}, "3 0 1", ""},
		{"EE SPKI SHA-512", chain(leaf), []Record{rec(t, 3, 1, 2, leaf.cert)}, "3 1 2", ""},
		{"EE Cert Full", chain(leaf), []Record{rec(t, 3, 0, 0, leaf.cert)}, "3 0 0", ""},
		{"EE SPKI Full", chain(leaf), []Record{rec(t, 3, 1, 0, leaf.cert)}, "3 1 0", ""},
		// RFC 7672 §3.1.1: neither names nor dates count for DANE-EE.
		{"EE ignores an expired self-signed certificate", chain(selfSigned), []Record{rec(t, 3, 1, 1, selfSigned.cert)}, "3 1 1", ""},
		{"EE ignores the name", chain(wrongName), []Record{rec(t, 3, 1, 1, wrongName.cert)}, "3 1 1", ""},
		{"EE of another key", chain(other, inter), []Record{rec(t, 3, 1, 1, leaf.cert)}, "", TLSAInvalid},
		{"EE matches the leaf only, not the issuer", chain(leaf, inter), []Record{rec(t, 3, 1, 1, inter.cert)}, "", TLSAInvalid},
		{"TA root in the chain", chain(leaf, inter, root), []Record{rec(t, 2, 0, 1, root.cert)}, "2 0 1", ""},
		{"TA intermediate", chain(leaf, inter), []Record{rec(t, 2, 1, 1, inter.cert)}, "2 1 1", ""},
		{"TA not in the chain", chain(leaf, inter), []Record{rec(t, 2, 0, 1, root.cert)}, "", TLSAInvalid},
		{"TA with a leaf of another name", chain(wrongName, inter), []Record{rec(t, 2, 0, 1, inter.cert)}, "", HostMismatch},
		{"TA with an expired leaf", chain(expiredLeaf, inter), []Record{rec(t, 2, 0, 1, inter.cert)}, "", Expired},
		{"TA matching the leaf is not an anchor", chain(leaf), []Record{rec(t, 2, 0, 1, leaf.cert)}, "", TLSAInvalid},
		{"one of several records", chain(leaf, inter), []Record{rec(t, 3, 1, 1, other.cert), rec(t, 3, 1, 1, leaf.cert)}, "3 1 1", ""},
		{"EE wins over a failing TA", chain(wrongName, inter), []Record{rec(t, 2, 0, 1, inter.cert), rec(t, 3, 1, 1, wrongName.cert)}, "3 1 1", ""},
		{"PKIX usages are unusable", chain(leaf, inter, root), []Record{rec(t, 1, 1, 1, leaf.cert), rec(t, 0, 0, 1, root.cert)}, "", TLSAInvalid},
		{"a digest of the wrong length is unusable", chain(leaf), []Record{{Usage: 3, Selector: 1, Type: 1, Data: []byte{1, 2, 3}}}, "", TLSAInvalid},
		{"unknown matching type", chain(leaf), []Record{{Usage: 3, Selector: 1, Type: 7, Data: []byte{1}}}, "", TLSAInvalid},
		{"no certificate", nil, []Record{rec(t, 3, 1, 1, leaf.cert)}, "", ValidationError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Verify(tc.chain, tc.recs, names, now)
			if tc.result == "" {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if !strings.HasPrefix(got.String(), tc.want+" ") {
					t.Errorf("matched %s, want %s", got, tc.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v, want a *dane.Error", err)
			}
			if e.Result != tc.result {
				t.Errorf("result %s, want %s (%s)", e.Result, tc.result, e.Reason)
			}
		})
	}
}

func TestFromRRAndDescribe(t *testing.T) {
	rr, err := dns.NewRR("_25._tcp.mx.example.net. TLSA 3 1 1 " + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromRR(rr.(*dns.TLSA))
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != "3 1 1 "+strings.Repeat("ab", 32) || r.Describe() != "DANE-EE(3) SPKI(1) SHA2-256(1)" || r.Unusable() != "" {
		t.Errorf("%s / %s / %q", r, r.Describe(), r.Unusable())
	}
	if (Record{Usage: 9, Selector: 4, Type: 3}).Describe() != "unknown(9) unknown(4) unknown(3)" {
		t.Error((Record{Usage: 9, Selector: 4, Type: 3}).Describe())
	}
}
