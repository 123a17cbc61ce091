package envaddr

import (
	"net/url"
	"strings"
)

// ParseMailto reads a mailto: URI (RFC 6068) that names one mailbox, as
// report records publish their destinations (DMARC rua/ruf, RFC 7489
// §6.2; TLS-RPT rua, RFC 8460 §3): "mailto:" in any case, the address
// percent-decoded (RFC 6068 §2: "%40" is "@"), a "?query" ignored. The
// address must pass Parse, since reports are sent to it: what could not
// be sent is refused when the record is read.
func ParseMailto(uri string) (Address, error) {
	const scheme = "mailto:"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return Address{}, bad(uri, "not a mailto: URI")
	}
	rest := uri[len(scheme):]
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	addr, err := url.PathUnescape(rest)
	if err != nil {
		return Address{}, bad(uri, "bad percent-encoding in a mailto: URI (RFC 6068 section 2)")
	}
	if strings.Contains(addr, ",") {
		// RFC 6068 §2 allows a list; a report destination is one mailbox.
		return Address{}, bad(uri, "more than one address in a mailto: URI")
	}
	return Parse(addr)
}
