package mailhdr

import (
	"mime"
	"strings"
)

// wordDecoder decodes RFC 2047 encoded words in every charset
// CharsetReader knows (mime's own decoder knows only UTF-8, ISO-8859-1
// and US-ASCII).
var wordDecoder = &mime.WordDecoder{CharsetReader: CharsetReader}

// decodeWord decodes s when it is one encoded word (RFC 2047 §2), and
// reports whether it was. A word that cannot be decoded (unknown charset,
// bad encoding) stays as written.
func decodeWord(s string) (string, bool) {
	if len(s) < 8 || !strings.HasPrefix(s, "=?") || !strings.HasSuffix(s, "?=") {
		return s, false
	}
	d, err := wordDecoder.Decode(s)
	if err != nil {
		return s, false
	}
	return d, true
}

// DecodeText decodes the encoded words of unstructured text (RFC 2047 §5
// (1)): each word that stands between white space (or at either end) and
// decodes is replaced by its text in UTF-8; white space between two
// encoded words goes (§6.2). A word that does not decode stays as
// written, and so do the others around it: one bad word never hides the
// rest.
func DecodeText(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	var b strings.Builder
	pendingSpace := ""
	prevEncoded := false
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			j++
		}
		space := v[i:j]
		k := j
		for k < len(v) && v[k] != ' ' && v[k] != '\t' {
			k++
		}
		if k == j {
			pendingSpace += space
			break
		}
		word, encoded := decodeWord(v[j:k])
		if !(encoded && prevEncoded) {
			b.WriteString(space)
		}
		b.WriteString(word)
		prevEncoded = encoded
		i = k
	}
	b.WriteString(pendingSpace)
	return b.String()
}
