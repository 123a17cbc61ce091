package sendmail

import (
	"errors"
	"strings"

	"github.com/ebbmail/ebb/internal/mailhdr"
)

// ParseAddressList returns the addr-specs in an address-list header value
// (RFC 5322 §3.4), read by mailhdr: "Name <a@x>, b@y (comment), group:
// c@z;". Quoted local parts keep their quotes. What scripts write in To:
// is not always RFC 5322, so an item mailhdr cannot read is still taken
// the way sendmail takes it: the text in angle brackets (a missing
// closing bracket allowed), else a bare login name ("root").
func ParseAddressList(v string) []string {
	list, err := mailhdr.ParseAddressList(v)
	var bad *mailhdr.SyntaxError
	errors.As(err, &bad)
	var out []string
	next := 0
	take := func(upTo int) {
		for ; next < upTo && next < len(list); next++ {
			out = append(out, list[next].Spec())
		}
	}
	if bad != nil {
		for i, item := range bad.Items {
			take(bad.At[i])
			if a := looseAddress(item); a != "" {
				out = append(out, a)
			}
		}
	}
	take(len(list))
	return out
}

// looseAddress is the address sendmail takes from an item that is not an
// RFC 5322 address: what stands in angle brackets, else the item when it
// is one word.
func looseAddress(item string) string {
	if i := strings.LastIndexByte(item, '<'); i >= 0 {
		a := item[i+1:]
		if j := strings.IndexByte(a, '>'); j >= 0 {
			a = a[:j]
		}
		return strings.TrimSpace(a)
	}
	if f := strings.Fields(item); len(f) == 1 && !strings.ContainsAny(f[0], `"();:`) {
		return f[0]
	}
	return ""
}
