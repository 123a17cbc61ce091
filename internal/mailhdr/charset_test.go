package mailhdr

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/mailhdr/gencharsets/resolve"
	gmcharset "github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
)

// TestCharsetsMatchGoMessage: for every name that x/text's IANA or WHATWG
// index knows (testdata/charset-labels.txt, taken from their tables, and
// each "cs" alias without its "cs"), as written and upper-cased,
// lookupCharset returns the very encoding that go-message/charset's lookup
// order (package resolve) finds (US-ASCII excepted: ours is
// asciiEncoding), decodes exactly as go-message/charset does, or refuses
// exactly when it does. The decoding is compared over three samples
// (every byte value, multi-byte UTF-8 and CJK sequences: plain, after a
// UTF-16 big-endian BOM, after a little-endian one), so that UTF-8 is told
// from US-ASCII and each UTF-16 BOM mode from the others. Surrounding
// white space is ignored (go-message ignores it for WHATWG labels only): a
// padded name decodes as the name. The test is what keeps the generated
// switch honest; go-message/charset and the indexes are linked into this
// test only.
func TestCharsetsMatchGoMessage(t *testing.T) {
	f, err := os.Open("testdata/charset-labels.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Every byte value, then valid multi-byte UTF-8, some multi-byte
	// sequences of the CJK encodings, an ISO-2022-JP escape and a UTF-16
	// BOM.
	var base bytes.Buffer
	for b := 0; b < 256; b++ {
		base.WriteByte(byte(b))
	}
	base.WriteString("é€😀\xa4\xa2\xb0\xa1\x82\xa0\x1b$B$\"\x1b(B\xfe\xff\x00A\xa1\x40\x81\x30\x81\x30")
	samples := [][]byte{base.Bytes(), append([]byte("\xfe\xff"), base.Bytes()...), append([]byte("\xff\xfe"), base.Bytes()...)}
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
	usASCII := resolve.USASCII()
	sc := bufio.NewScanner(f)
	known, n := 0, 0
	for sc.Scan() {
		label := sc.Text()
		for _, spelling := range []string{label, strings.ToUpper(label)} {
			n++
			ref, ours := resolve.GoMessage(spelling), lookupCharset(spelling)
			if ref == usASCII {
				ref = asciiEncoding
			}
			if ours != ref {
				t.Errorf("%q: lookupCharset gives %v, go-message's order %v", spelling, ours, ref)
			}
			for i, sample := range samples {
				want, wok := decode(gmcharset.Reader(spelling, bytes.NewReader(sample)))
				got, gok := decode(CharsetReader(spelling, bytes.NewReader(sample)))
				if wok != gok {
					t.Errorf("%q: go-message resolves it: %v, ours: %v", spelling, wok, gok)
					break
				}
				if got != want {
					t.Errorf("%q decodes sample %d differently:\n got %q\nwant %q", spelling, i, got, want)
				}
			}
			if ours != nil && spelling == label {
				known++
			}
		}
		for _, sample := range samples {
			padded, pok := decode(CharsetReader(" "+label+"\t", bytes.NewReader(sample)))
			plain, ok := decode(CharsetReader(label, bytes.NewReader(sample)))
			if pok != ok || padded != plain {
				t.Errorf("%q padded decodes differently from the name", label)
			}
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
	if want := "a" + string(rune(encoding.ASCIISub)) + "b" + string(rune(encoding.ASCIISub)); err != nil || out != want {
		t.Fatalf("%q %v; want %q", out, err, want)
	}
}
