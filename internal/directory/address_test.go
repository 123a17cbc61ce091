package directory

import (
	"strings"
	"testing"
)

// RFC 3492 §7.1 sample strings (a few), and the everyday IDN cases.
func TestPunycodeMatchesRFC3492Samples(t *testing.T) {
	cases := []struct{ unicode, puny string }{
		{"bücher", "bcher-kva"},
		{"ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"},              // (A) Arabic
		{"他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"},                    // (B) Chinese
		{"Pročprostěnemluvíčesky", "Proprostnemluvesky-uyb24dma41a"}, // (D) Czech
		{"3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"},                     // (L) Japanese
		{"ñ", "ida"},
	}
	for _, c := range cases {
		got, err := punyEncode(c.unicode)
		if err != nil || got != c.puny {
			t.Errorf("punyEncode(%q) = %q, %v; want %q", c.unicode, got, err, c.puny)
		}
		back, err := punyDecode(c.puny)
		if err != nil || back != c.unicode {
			t.Errorf("punyDecode(%q) = %q, %v; want %q", c.puny, back, err, c.unicode)
		}
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
	for _, bad := range []string{"", "a..b", "[127.0.0.1]", "a b.com", strings.Repeat("a.", 130) + "com"} {
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

// FuzzPunycode: decoding never panics, and what decodes encodes back.
func FuzzPunycode(f *testing.F) {
	for _, s := range []string{"bcher-kva", "egbpdaj6bu4bxfgehfvwxn", "ida", "-", "zzzzzzzzzzzzzz", "a-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := punyDecode(s)
		if err != nil {
			return
		}
		enc, err := punyEncode(u)
		if err != nil {
			t.Fatalf("punyEncode(punyDecode(%q) = %q): %v", s, u, err)
		}
		back, err := punyDecode(enc)
		if err != nil || back != u {
			t.Fatalf("round trip of %q: %q → %q → %q, %v", s, u, enc, back, err)
		}
	})
}
