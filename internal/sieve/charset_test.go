package sieve

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	gmcharset "github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
)

// TestCharsetsMatchGoMessage: for every name that x/text's IANA or WHATWG
// index knows (testdata/charset-labels.txt, taken from their tables, and
// each "cs" alias without its "cs"), as written and upper-cased,
// lookupCharset decodes exactly as go-message/charset does, or refuses
// exactly when it does. Surrounding white space is ignored (go-message
// ignores it for WHATWG labels only): a padded name decodes as the name. The test is what keeps the generated switch in charset.go honest;
// go-message/charset is linked into this test only.
func TestCharsetsMatchGoMessage(t *testing.T) {
	f, err := os.Open("testdata/charset-labels.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Every byte value, then some multi-byte sequences of the CJK
	// encodings, an ISO-2022-JP escape and a UTF-16 BOM.
	var sample bytes.Buffer
	for b := 0; b < 256; b++ {
		sample.WriteByte(byte(b))
	}
	sample.WriteString("\xa4\xa2\xb0\xa1\x82\xa0\x1b$B$\"\x1b(B\xfe\xff\x00A\xa1\x40\x81\x30\x81\x30")
	decode := func(r io.Reader, err error) (string, bool) {
		if err != nil {
			return "", false
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return "error: " + err.Error(), true
		}
		return string(b), true
	}
	sc := bufio.NewScanner(f)
	known, n := 0, 0
	for sc.Scan() {
		label := sc.Text()
		for _, spelling := range []string{label, strings.ToUpper(label)} {
			n++
			want, wok := decode(gmcharset.Reader(spelling, bytes.NewReader(sample.Bytes())))
			got, gok := decode(charsetReader(spelling, bytes.NewReader(sample.Bytes())))
			if wok != gok {
				t.Errorf("%q: go-message resolves it: %v, ours: %v", spelling, wok, gok)
				continue
			}
			if got != want {
				t.Errorf("%q decodes differently:\n got %q\nwant %q", spelling, got, want)
			}
			if gok && spelling == label {
				known++
			}
		}
		padded, pok := decode(charsetReader(" "+label+"\t", bytes.NewReader(sample.Bytes())))
		plain, ok := decode(charsetReader(label, bytes.NewReader(sample.Bytes())))
		if pok != ok || padded != plain {
			t.Errorf("%q padded decodes differently from the name", label)
		}
	}
	if known < 300 || n < 2000 {
		t.Fatalf("only %d of %d names known: the label list is not what it should be", known, n/2)
	}
	for _, name := range []string{"x-unknown-charset", "", "utf-7"} {
		if lookupCharset(name) != nil {
			t.Errorf("%q resolved; want unsupported", name)
		}
	}
}

// The ASCII encoder (unused by Sieve, but an Encoding has one) writes
// ASCII and substitutes the rest, also across a split rune.
func TestASCIIEncoder(t *testing.T) {
	out, err := asciiEncoding.NewEncoder().String("añb€")
	if err != nil || out != "a\x1ab\x1a" {
		t.Fatalf("%q %v", out, err)
	}
	_ = encoding.ASCIISub
}
