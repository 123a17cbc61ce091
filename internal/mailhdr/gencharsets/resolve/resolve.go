// Package resolve is go-message/charset's lookup order as a function
// that returns the encoding itself (go-message's Reader returns only a
// reader): gencharsets generates lookupCharset from it, and
// TestCharsetsMatchGoMessage compares lookupCharset with it by identity.
// It links x/text's IANA and WHATWG indexes, whose init cost is what
// lookupCharset avoids: import it from the generator and tests only.
package resolve

import (
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// GoMessage resolves name as go-message/charset does: its two quirks,
// then x/text's IANA index, then "cs" + name, then the WHATWG index. It
// returns nil for a name none of them knows.
func GoMessage(name string) encoding.Encoding {
	switch strings.ToLower(name) {
	case "ansi_x3.110-1983":
		return charmap.ISO8859_1
	case "x-utf_8j":
		return unicode.UTF8
	}
	enc, _ := ianaindex.MIME.Encoding(name)
	if enc == nil {
		enc, _ = ianaindex.MIME.Encoding("cs" + name)
	}
	if enc == nil {
		enc, _ = htmlindex.Get(name)
	}
	return enc
}

// USASCII is the IANA index's US-ASCII encoding, which lookupCharset
// replaces by its own asciiEncoding.
func USASCII() encoding.Encoding {
	e, _ := ianaindex.MIME.Encoding("us-ascii")
	return e
}

// Quirks are the names go-message resolves itself, before the indexes
// (GoMessage's switch).
func Quirks() []string { return []string{"ansi_x3.110-1983", "x-utf_8j"} }
