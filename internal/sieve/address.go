package sieve

import (
	"strings"

	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// mailAddr is one address from an address header or the envelope.
type mailAddr struct {
	local, domain string
	all           string
	valid         bool
}

// parseAddressList reads an address header value with mailhdr (the one
// reader of header addresses: RFC 5322 with its obsolete forms, groups,
// comments; RFC 5228 §2.7.4 compares only the addr-spec).
//
// As in Pigeonhole, items that are not addresses are dropped, and a value
// without any address (such as "undisclosed-recipients:;" or "nobody") is
// one invalid address whose :all is the raw value and which has no other
// parts.
func parseAddressList(v string) []mailAddr {
	list, _ := mailhdr.ParseAddressList(v)
	var out []mailAddr
	for _, a := range list {
		if a.Local == "" || a.Domain == "" {
			continue
		}
		out = append(out, mailAddr{local: a.Local, domain: a.Domain, all: a.Spec(), valid: true})
	}
	if len(out) == 0 {
		if raw := strings.TrimSpace(v); raw != "" {
			return []mailAddr{{all: raw}}
		}
	}
	return out
}

// envelopeAddress splits an envelope address (RFC 5228 §5.4) with
// envaddr, the one parser of envelope addresses; one it refuses has only
// :all, as written.
func envelopeAddress(v string) mailAddr {
	a, err := envaddr.Parse(v)
	if err != nil {
		return mailAddr{all: v}
	}
	return mailAddr{local: a.Local, domain: a.Domain, all: a.String(), valid: true}
}

// quoteLocal writes a local part as RFC 5322 wants it (mailhdr.QuoteLocal).
func quoteLocal(l string) string { return mailhdr.QuoteLocal(l) }

// addrPart is the :all/:localpart/:domain/:user/:detail selector (RFC 5228
// §2.7.4, RFC 5233).
type addrPart int

const (
	apAll addrPart = iota
	apLocal
	apDomain
	apUser
	apDetail
)

var addrPartTags = []tagDef{
	{name: "all", group: "addrpart"},
	{name: "localpart", group: "addrpart"},
	{name: "domain", group: "addrpart"},
	{name: "user", group: "addrpart", ext: "subaddress"},
	{name: "detail", group: "addrpart", ext: "subaddress"},
}

func addrPartOf(a *args) addrPart {
	switch a.group["addrpart"] {
	case "localpart":
		return apLocal
	case "domain":
		return apDomain
	case "user":
		return apUser
	case "detail":
		return apDetail
	}
	return apAll
}

// part extracts an address part; ok is false when the part does not exist
// (":detail" of an address without separator does not match anything,
// RFC 5233 §4). An invalid address (no "@") has only :all, its raw text,
// as in Pigeonhole.
func (a mailAddr) part(p addrPart, sep string) (string, bool) {
	if !a.valid && p != apAll {
		return "", false
	}
	switch p {
	case apLocal:
		return a.local, true
	case apDomain:
		return a.domain, true
	case apUser, apDetail:
		i := -1
		if sep != "" {
			i = strings.Index(a.local, sep)
		}
		if i < 0 {
			if p == apUser {
				return a.local, true
			}
			return "", false
		}
		if p == apUser {
			return a.local[:i], true
		}
		return a.local[i+len(sep):], true
	}
	if a.valid {
		return quoteLocal(a.local) + "@" + a.domain, true
	}
	return a.all, true
}
