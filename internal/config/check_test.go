package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/diag"
)

// A mail.maildir under which two mailboxes would share a Maildir is refused
// with its line; one that names each mailbox's own passes.
func TestMaildirTemplateMustNameOneMaildirPerMailbox(t *testing.T) {
	for _, tc := range []struct {
		maildir string
		ok      bool
	}{
		{"/var/mail/vhosts", false}, // the mailq hint of issue 21, followed as written
		{"{root}", false},
		{"{root}/{local}/Maildir", false},  // alice@a and alice@b
		{"{root}/{domain}/Maildir", false}, // every mailbox of a domain
		{"{root}/{domain}/{local}/Maildir", true},
		{"/srv/mail/{address}", true},
		{"{root}/{local}@{domain}", true},
	} {
		_, err := Parse("ebb.toml", []byte("[mail]\nmaildir = \""+tc.maildir+"\"\n"))
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: refused: %v", tc.maildir, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "ebb.toml:2: mail.maildir") || !strings.Contains(err.Error(), "one Maildir")):
			t.Errorf("%s: %v, want a refusal at line 2", tc.maildir, err)
		}
	}
}

// A starting config is written once; a second write refuses and leaves
// what is there.
func TestWriteNewNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "ebb.toml")
	if err := WriteNew(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("the starting config does not load: %v", err)
	}
	os.WriteFile(path, []byte("# edited\n"), 0o644)
	err := WriteNew(path)
	d, ok := diag.As(err)
	if !ok || d.ExitCode() != diag.ExCantCreat || !strings.Contains(d.Sentence(), "never overwrites") || !strings.Contains(d.Hint, "run: ebb config check -c "+path) {
		t.Fatalf("second write: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "# edited\n" {
		t.Errorf("the config was replaced: %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

// placeholders finds what the regular expression it replaces finds.
func TestPlaceholdersMatchRegexp(t *testing.T) {
	re := regexp.MustCompile(`\{[^}]*\}`)
	for _, s := range []string{"", "{root}/{domain}/{local}/Maildir", "{", "}", "{}", "a{b{c}d}", "{x", "x}{y}", "{{}}", "{a}{b}", "/{root}/{domain/x", "é{é}é"} {
		got, want := placeholders(s), re.FindAllString(s, -1)
		if !slices.Equal(got, want) {
			t.Errorf("placeholders(%q) = %q, the regexp %q", s, got, want)
		}
	}
}
