package resolve

import (
	"strings"
	"testing"
)

// RFC 3492 §7.1 sample strings (a few, lower-cased as UTS #46 maps them),
// and the everyday IDN cases, both ways.
func TestIDNLabelsBothWays(t *testing.T) {
	cases := []struct{ unicode, ascii string }{
		{"bücher.example", "xn--bcher-kva.example"},
		{"ليهمابتكلموشعربي؟.example", "xn--egbpdaj6bu4bxfgehfvwxn.example"},    // (A) Arabic
		{"他们为什么不说中文.example", "xn--ihqwcrb4cv8a8dqg056pqjye.example"},          // (B) Chinese
		{"pročprostěnemluvíčesky.cz", "xn--proprostnemluvesky-uyb24dma41a.cz"}, // (D) Czech
		{"3年b組金八先生.jp", "xn--3b-ww4c5e180e575a65lsy2b.jp"},                     // (L) Japanese
		{"ñ.es", "xn--ida.es"},
		{"ß.de", "xn--zca.de"}, // non-transitional: ß is not ss
	}
	for _, c := range cases {
		got, err := NormalizeDomain(c.unicode)
		if err != nil || got != c.ascii {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", c.unicode, got, err, c.ascii)
		}
		if back := DomainUnicode(c.ascii); back != c.unicode {
			t.Errorf("DomainUnicode(%q) = %q; want %q", c.ascii, back, c.unicode)
		}
	}
	if got := DomainUnicode("xn--bcher-kva.xn--zz.example"); got != "bücher.xn--zz.example" {
		t.Errorf("a label that does not decode stays: %q", got)
	}
}

func TestNormalizeDomainMakesOneFormPerDomain(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.Example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"bücher。example", "xn--bcher-kva.example"}, // ideographic full stop
		{"ｅｘａｍｐｌｅ.com", "example.com"},              // fullwidth letters (NFKC)
	}
	for _, c := range cases {
		got, err := NormalizeDomain(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	// Plain ASCII labels are only lower-cased: "r3---sn" is a hostname,
	// not an IDN; "_" is seen in the wild.
	for in, want := range map[string]string{"R3---SN-abc.GoogleVideo.com": "r3---sn-abc.googlevideo.com", "a_b.example": "a_b.example"} {
		if got, err := NormalizeDomain(in); err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a..b", "[127.0.0.1]", "a b.com", strings.Repeat("a.", 130) + "com", "xn--zz.example", "-bücher.example", "a/b.example"} {
		if got, err := NormalizeDomain(bad); err == nil {
			t.Errorf("NormalizeDomain(%q) = %q; want an error", bad, got)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	cases := []struct{ in, local, domain string }{
		{"Alice@Example.COM", "Alice", "example.com"},
		{"<bob@bücher.example>", "bob", "xn--bcher-kva.example"},
		{"@example.com", "", "example.com"},
		{`"odd@local"@example.com`, `"odd@local"`, "example.com"},
	}
	for _, c := range cases {
		l, d, err := SplitAddress(c.in)
		if err != nil || l != c.local || d != c.domain {
			t.Errorf("SplitAddress(%q) = %q, %q, %v; want %q, %q", c.in, l, d, err, c.local, c.domain)
		}
	}
	for _, bad := range []string{"nodomain", "a b@example.com", "x@"} {
		if _, _, err := SplitAddress(bad); err == nil {
			t.Errorf("SplitAddress(%q) succeeded; want an error", bad)
		}
	}
}

// FuzzNormalizeDomain: normalising is idempotent, and the Unicode form of a
// normalised domain normalises back to it.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com", "bücher.example", "XN--BCHER-KVA.example", "3年B組金八先生.jp", "a..b", "xn--zz", "ｅｘａｍｐｌｅ.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeDomain(s)
		if err != nil {
			return
		}
		again, err := NormalizeDomain(n)
		if err != nil || again != n {
			t.Fatalf("NormalizeDomain(%q) = %q, but again = %q, %v", s, n, again, err)
		}
		if !isASCII(n) || n != strings.ToLower(n) {
			t.Fatalf("NormalizeDomain(%q) = %q is not lower-case ASCII", s, n)
		}
	})
}
