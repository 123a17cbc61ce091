// Package dane authenticates an SMTP server's certificate with the TLSA
// records of its name: DANE (RFC 6698, updated by RFC 7671) as SMTP uses
// it (RFC 7672). It holds the rules, not the lookups: which records are
// usable for SMTP (DANE-TA(2) and DANE-EE(3); selectors Cert(0) and
// SPKI(1); matching types Full(0), SHA2-256(1) and SHA2-512(2)), and
// whether a presented chain matches one of them.
//
//	recs := []dane.Record{...}         // from _25._tcp.HOST TLSA, DNSSEC-validated
//	rec, err := dane.Verify(state.PeerCertificates, recs, []string{host}, time.Now())
//	var e *dane.Error
//	if errors.As(err, &e) { e.Result } // "tlsa-invalid", "certificate-host-mismatch" ... (RFC 8460 §4.3)
//
// A DANE-EE(3) match authenticates the server by its key or certificate
// alone: no name, no expiry, no chain is checked (RFC 7672 §3.1.1). A
// DANE-TA(2) match makes the matched certificate of the chain the trust
// anchor: the leaf must chain to it, be valid now and name one of the
// reference identifiers (RFC 7672 §3.1.2, §3.2.2).
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Certificate usages, selectors and matching types (RFC 6698 §2.1,
// RFC 7218's acronyms).
const (
	PKIXTA = 0
	PKIXEE = 1
	DANETA = 2
	DANEEE = 3

	SelCert = 0
	SelSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Record is one TLSA record.
type Record struct {
	Usage, Selector, Type uint8
	Data                  []byte
}

// FromRR is the record of a TLSA resource record.
func FromRR(rr *dns.TLSA) (Record, error) {
	b, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, fmt.Errorf("TLSA %d %d %d: the data is not hexadecimal: %w", rr.Usage, rr.Selector, rr.MatchingType, err)
	}
	return Record{Usage: rr.Usage, Selector: rr.Selector, Type: rr.MatchingType, Data: b}, nil
}

// String is the record as a zone file writes it: "3 1 1 abcd...".
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.Type, hex.EncodeToString(r.Data))
}

// Describe is the record's parameters in words: "DANE-EE(3) SPKI(1)
// SHA2-256(1)" (RFC 7218).
func (r Record) Describe() string {
	u := map[uint8]string{PKIXTA: "PKIX-TA", PKIXEE: "PKIX-EE", DANETA: "DANE-TA", DANEEE: "DANE-EE"}[r.Usage]
	s := map[uint8]string{SelCert: "Cert", SelSPKI: "SPKI"}[r.Selector]
	m := map[uint8]string{MatchFull: "Full", MatchSHA256: "SHA2-256", MatchSHA512: "SHA2-512"}[r.Type]
	name := func(n string, v uint8) string {
		if n == "" {
			n = "unknown"
		}
		return fmt.Sprintf("%s(%d)", n, v)
	}
	return name(u, r.Usage) + " " + name(s, r.Selector) + " " + name(m, r.Type)
}

// Unusable says why an SMTP client cannot use r, or "" when it can. RFC
// 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not for SMTP (there is no
// agreed set of CAs between MTAs); RFC 6698 §4.1: unknown parameters, and
// a digest of the wrong length, make a record unusable.
func (r Record) Unusable() string {
	switch r.Usage {
	case DANETA, DANEEE:
	case PKIXTA, PKIXEE:
		return fmt.Sprintf("usage %d (PKIX) is not used for SMTP (RFC 7672 §3.1.3)", r.Usage)
	default:
		return fmt.Sprintf("unknown usage %d", r.Usage)
	}
	if r.Selector != SelCert && r.Selector != SelSPKI {
		return fmt.Sprintf("unknown selector %d", r.Selector)
	}
	switch r.Type {
	case MatchFull:
		if len(r.Data) == 0 {
			return "no data"
		}
	case MatchSHA256:
		if len(r.Data) != sha256.Size {
			return fmt.Sprintf("a SHA2-256 digest of %d bytes (want %d)", len(r.Data), sha256.Size)
		}
	case MatchSHA512:
		if len(r.Data) != sha512.Size {
			return fmt.Sprintf("a SHA2-512 digest of %d bytes (want %d)", len(r.Data), sha512.Size)
		}
	default:
		return fmt.Sprintf("unknown matching type %d", r.Type)
	}
	return ""
}

// Usable is the records of recs that an SMTP client can use.
func Usable(recs []Record) []Record {
	var out []Record
	for _, r := range recs {
		if r.Unusable() == "" {
			out = append(out, r)
		}
	}
	return out
}

// Matches reports whether r's data is that of cert, by r's selector and
// matching type.
func (r Record) Matches(cert *x509.Certificate) bool {
	var b []byte
	switch r.Selector {
	case SelCert:
		b = cert.Raw
	case SelSPKI:
		b = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.Type {
	case MatchFull:
		return bytes.Equal(b, r.Data)
	case MatchSHA256:
		sum := sha256.Sum256(b)
		return bytes.Equal(sum[:], r.Data)
	case MatchSHA512:
		sum := sha512.Sum512(b)
		return bytes.Equal(sum[:], r.Data)
	}
	return false
}

// Data is the record data of cert for a selector and a matching type, as
// a zone file writes it: what to publish.
func Data(cert *x509.Certificate, selector, typ uint8) string {
	r := Record{Selector: selector, Type: typ}
	var b []byte
	if selector == SelSPKI {
		b = cert.RawSubjectPublicKeyInfo
	} else {
		b = cert.Raw
	}
	switch typ {
	case MatchSHA256:
		sum := sha256.Sum256(b)
		b = sum[:]
	case MatchSHA512:
		sum := sha512.Sum512(b)
		b = sum[:]
	}
	r.Data = b
	return hex.EncodeToString(r.Data)
}

// Results of a failed verification, in TLS-RPT's words (RFC 8460 §4.3).
const (
	TLSAInvalid     = "tlsa-invalid"
	HostMismatch    = "certificate-host-mismatch"
	Expired         = "certificate-expired"
	NotTrusted      = "certificate-not-trusted"
	ValidationError = "validation-failure"
)

// Error is a chain that no usable record authenticates.
type Error struct {
	// Result is the RFC 8460 §4.3 result type: tlsa-invalid (no record
	// matches, or none is usable), certificate-host-mismatch,
	// certificate-expired or validation-failure (a DANE-TA(2) match
	// whose chain or names do not hold).
	Result string
	Reason string
}

func (e *Error) Error() string { return "DANE: " + e.Reason }

// Verify authenticates chain (the server's certificates as sent, leaf
// first) with recs. names are the reference identifiers a DANE-TA(2)
// leaf must name (RFC 7672 §3.2.2: the TLSA base domain and, with MX
// records, the MX host name as given and as CNAMEs expanded it). It
// returns the record that matched. DANE-EE(3) records are tried first:
// they need nothing else to hold.
func Verify(chain []*x509.Certificate, recs []Record, names []string, now time.Time) (Record, error) {
	usable := Usable(recs)
	if len(usable) == 0 {
		var why []string
		for _, r := range recs {
			why = append(why, r.String()+": "+r.Unusable())
		}
		return Record{}, &Error{Result: TLSAInvalid, Reason: "no usable TLSA record (" + strings.Join(why, "; ") + ")"}
	}
	if len(chain) == 0 {
		return Record{}, &Error{Result: ValidationError, Reason: "the server sent no certificate"}
	}
	for _, r := range usable {
		if r.Usage == DANEEE && r.Matches(chain[0]) {
			return r, nil
		}
	}
	var taErr *Error
	for _, r := range usable {
		if r.Usage != DANETA {
			continue
		}
		for i := 1; i < len(chain); i++ {
			if !r.Matches(chain[i]) {
				continue
			}
			err := verifyTA(chain, i, names, now)
			if err == nil {
				return r, nil
			}
			if taErr == nil {
				taErr = err
			}
		}
	}
	if taErr != nil {
		return Record{}, taErr
	}
	var have []string
	for _, r := range usable {
		have = append(have, r.String())
	}
	leaf := Data(chain[0], SelSPKI, MatchSHA256)
	return Record{}, &Error{Result: TLSAInvalid, Reason: fmt.Sprintf(
		"no TLSA record matches the certificate chain (%d certificates; the leaf's key is 3 1 1 %s; published: %s)",
		len(chain), leaf, strings.Join(have, ", "))}
}

// verifyTA checks the chain up to the trust anchor chain[ta]: signatures,
// validity dates and the names of the leaf. Key usages are not checked:
// MTA certificates often lack serverAuth, and RFC 7672 does not ask it.
func verifyTA(chain []*x509.Certificate, ta int, names []string, now time.Time) *Error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[ta])
	inter := x509.NewCertPool()
	for _, c := range chain[1:ta] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		var ie x509.CertificateInvalidError
		if errors.As(err, &ie) && ie.Reason == x509.Expired {
			return &Error{Result: Expired, Reason: "the certificate chain to the DANE-TA(2) trust anchor is not valid now: " + err.Error()}
		}
		return &Error{Result: ValidationError, Reason: "the certificate does not chain to the DANE-TA(2) trust anchor: " + err.Error()}
	}
	for _, n := range names {
		if chain[0].VerifyHostname(strings.TrimSuffix(n, ".")) == nil {
			return nil
		}
	}
	return &Error{Result: HostMismatch, Reason: fmt.Sprintf("the certificate (names %s) chains to the DANE-TA(2) trust anchor but names none of %s",
		certNames(chain[0]), strings.Join(names, ", "))}
}

func certNames(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	return c.Subject.CommonName
}
