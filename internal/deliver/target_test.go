package deliver

import (
	"strings"
	"testing"
)

// expandMaildir is the strings.Replacer it replaced, for any template
// (unknown braces, braces inside a replacement, repeats).
func FuzzExpandMaildir(f *testing.F) {
	for _, s := range []string{"{root}/{domain}/{local}/Maildir", "/m/{address}/{{local}}", "{root", "{}{x}{domain", "{local}{local}{root}/x"} {
		f.Add(s, "/var/mail", "example.com", "bob")
	}
	f.Add("{root}{domain}", "{domain}", "{root}", "{local}")
	f.Fuzz(func(t *testing.T, tmpl, root, domain, local string) {
		r := strings.NewReplacer("{root}", root, "{domain}", domain, "{local}", local, "{address}", local+"@"+domain)
		if got, want := expandMaildir(tmpl, root, domain, local), r.Replace(tmpl); got != want {
			t.Fatalf("%q: %q, want %q", tmpl, got, want)
		}
	})
}
