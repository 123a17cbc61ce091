package mailhdr

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// Charsets of encoded words (RFC 2047) and of text body parts (RFC 2046
// §4.1.2) are decoded with x/text's decoders, found by name here rather
// than through go-message/charset. That package resolves names through
// x/text's IANA and WHATWG indexes, whose tables are maps built at package
// init: about 0.5 ms and 70 page faults at the start of every process
// that reads a header, which is every one-message delivery (issue 16).
// lookupCharset (charset_lookup.go) is the same resolution (go-message's
// quirks, then the IANA MIME names and aliases, then "cs" + name, then the
// WHATWG labels) as one switch over every name either index knows,
// generated from them by gencharsets and checked against
// go-message/charset by TestCharsetsMatchGoMessage. After an update of
// golang.org/x/text or go-message, regenerate it (and
// testdata/charset-labels.txt, the names the test runs over) from the
// repository's root with
//
//	go generate ./internal/mailhdr
//
// and run the test.

//go:generate go run ./gencharsets

// CharsetReader converts input in charset to UTF-8: the hook of
// mime.WordDecoder and of go-message (message.CharsetReader). An RFC 2231
// language suffix ("utf-8*en", RFC 2231 §5, also allowed in encoded words)
// is not part of the name.
func CharsetReader(charset string, input io.Reader) (io.Reader, error) {
	if i := strings.IndexByte(charset, '*'); i >= 0 {
		charset = charset[:i]
	}
	enc := lookupCharset(charset)
	if enc == nil {
		return nil, fmt.Errorf("charset %q: unsupported charset", charset)
	}
	return enc.NewDecoder().Reader(input), nil
}

// asciiEncoding is US-ASCII: a byte above 0x7F is not ASCII and decodes to
// U+FFFD (as x/text's IANA index does; the WHATWG would read windows-1252).
var asciiEncoding encoding.Encoding = asciiEnc{}

type asciiEnc struct{}

func (asciiEnc) NewDecoder() *encoding.Decoder { return &encoding.Decoder{Transformer: asciiDecoder{}} }

// NewEncoder (Sieve only decodes) writes ASCII and substitutes
// encoding.ASCIISub for every other character.
func (asciiEnc) NewEncoder() *encoding.Encoder { return &encoding.Encoder{Transformer: asciiEncoder{}} }

type asciiEncoder struct{ transform.NopResetter }

func (asciiEncoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		c, size := src[nSrc], 1
		if c >= 0x80 {
			if !atEOF && !utf8.FullRune(src[nSrc:]) {
				return nDst, nSrc, transform.ErrShortSrc
			}
			_, size = utf8.DecodeRune(src[nSrc:])
			c = encoding.ASCIISub
		}
		if nDst >= len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		dst[nDst] = c
		nDst++
		nSrc += size
	}
	return nDst, nSrc, nil
}

type asciiDecoder struct{ transform.NopResetter }

func (asciiDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	const repl = "\uFFFD"
	for _, c := range src {
		if c < 0x80 {
			if nDst >= len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = c
			nDst++
		} else {
			if nDst+len(repl) > len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			nDst += copy(dst[nDst:], repl)
		}
		nSrc++
	}
	return nDst, nSrc, nil
}
