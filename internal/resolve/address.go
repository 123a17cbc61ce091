package resolve

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/ebbmail/ebb/internal/envaddr"
)

// Addresses are kept and compared in one form: the domain in lower-case ASCII
// (IDN labels as punycode, RFC 5890/5891), the local part as the user wrote
// it. Lookups use a key whose local part is also lower-cased, so Alice@ and
// alice@ reach the same mailbox while the stored spelling ({local} in
// mail.maildir) is kept.

// ErrBadAddress is wrapped by the errors for addresses that cannot be parsed.
var ErrBadAddress = errors.New("not an address")

// idnaLookup maps and checks IDN labels as a lookup does (UTS #46 mapping
// of case, width and compatibility forms, non-transitional, so ß stays ß;
// RFC 5891's checks and the Bidi rule), without STD3's ban on "_", which
// is seen in the wild.
var idnaLookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(false), idna.Transitional(false))

// NormalizeDomain returns domain in lower-case ASCII: UTF-8 labels are mapped
// and encoded as punycode (x/net/idna, RFC 5890/5891 with UTS #46); "xn--"
// labels are checked and lower-cased. Punycode and UTF-8 spellings of one
// domain give the same result. Plain ASCII labels are only lower-cased:
// hostnames such as "r3---sn-x.example" are not IDNs and stay as they are.
func NormalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	// RFC 5321 §4.1.3: an address literal is not a domain we can host.
	if d == "" || strings.ContainsAny(d, "[]@ \t") || !utf8.ValidString(d) {
		return "", fmt.Errorf("%w: bad domain %q", ErrBadAddress, domain)
	}
	// UTS #46 treats the ideographic and other full stops as dots. An ASCII
	// domain (nearly every one, looked up for every recipient) has none, and
	// building the replacer costs more than the rest of this function.
	if !isASCII(d) {
		d = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(d)
	}
	labels := strings.Split(d, ".")
	for i, l := range labels {
		if l == "" {
			return "", fmt.Errorf("%w: empty label in domain %q", ErrBadAddress, domain)
		}
		low := strings.ToLower(l)
		if isASCII(l) && !strings.HasPrefix(low, "xn--") {
			labels[i] = low
			continue
		}
		a, err := idnaLookup.ToASCII(l)
		if err != nil || a == "" {
			return "", fmt.Errorf("%w: label %q of %q is no IDN (RFC 5891): %v", ErrBadAddress, l, domain, err)
		}
		labels[i] = a
	}
	for _, l := range labels {
		// RFC 5321 §4.1.2 Let-dig / Ldh-str (plus "_", seen in the wild):
		// also keeps "/" and ".." out of Maildir paths built from domains.
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("%w: character %q not allowed in domain %q", ErrBadAddress, c, domain)
			}
		}
	}
	out := strings.Join(labels, ".")
	if len(out) > 253 {
		return "", fmt.Errorf("%w: domain %q is longer than 253 octets", ErrBadAddress, domain)
	}
	return out, nil
}

// DomainUnicode renders an ASCII domain for people: "xn--bcher-kva.example"
// becomes "bücher.example". Labels that do not decode are left as they are.
func DomainUnicode(domain string) string {
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		if strings.HasPrefix(l, "xn--") {
			if u, err := idna.Punycode.ToUnicode(l); err == nil {
				labels[i] = u
			}
		}
	}
	return strings.Join(labels, ".")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// SplitAddress splits local@domain at the last "@" and normalises the domain.
// A local part of "" is allowed only as the catch-all form "@domain".
func SplitAddress(address string) (local, domain string, err error) {
	a := strings.TrimSpace(address)
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	local, dom, ok := envaddr.Split(a)
	if !ok && !strings.Contains(a, "@") {
		return "", "", fmt.Errorf("%w: %q has no @domain", ErrBadAddress, address)
	}
	if strings.ContainsAny(local, " \t\r\n<>") || len(local) > 64 {
		return "", "", fmt.Errorf("%w: bad local part in %q", ErrBadAddress, address)
	}
	domain, err = NormalizeDomain(dom)
	if err != nil {
		return "", "", err
	}
	return local, domain, nil
}

// NormalizeAddress returns address with its domain normalised.
func NormalizeAddress(address string) (string, error) {
	local, domain, err := SplitAddress(address)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// LookupKey is the case-folded form addresses are indexed by.
func LookupKey(local, domain string) string {
	return strings.ToLower(local) + "@" + domain
}
