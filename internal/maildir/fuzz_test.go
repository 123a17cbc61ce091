package maildir

import (
	"testing"
	"unicode/utf8"
)

// FuzzUTF7: decoding never panics; what decodes re-encodes to a name that
// decodes the same; valid UTF-8 survives encode+decode.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Entw&APw-rfe", "&-", "&ZeVnLIqe-", "&", "&U,BTFw-", "a&b", "Entwürfe", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeUTF7(s); err == nil && utf8.ValidString(dec) {
			enc, err := EncodeUTF7(dec)
			if err != nil {
				t.Fatalf("decoded %q to %q, which does not encode: %v", s, dec, err)
			}
			again, err := DecodeUTF7(enc)
			if err != nil || again != dec {
				t.Fatalf("%q -> %q -> %q -> %q, %v", s, dec, enc, again, err)
			}
		}
		if utf8.ValidString(s) {
			enc, err := EncodeUTF7(s)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := DecodeUTF7(enc)
			if err != nil || dec != s {
				t.Fatalf("%q -> %q -> %q, %v", s, enc, dec, err)
			}
		}
		// Folder names never escape the Maildir.
		if name, err := FolderName(s); err == nil && name != "" {
			if name[0] != '.' || containsAny(name, "/\x00") || name == "." || name == ".." {
				t.Fatalf("FolderName(%q) = %q", s, name)
			}
		}
	})
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}
