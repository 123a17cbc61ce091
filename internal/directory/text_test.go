package directory_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
)

func text(write func(b *bytes.Buffer)) string {
	var b bytes.Buffer
	write(&b)
	return b.String()
}

func TestListingsForPeopleAndJSON(t *testing.T) {
	ds := []directory.Domain{{Name: "example.org", Mailboxes: 2, Aliases: 1}, {Name: "xn--bcher-kva.example", Unicode: "bücher.example", AliasOf: "example.org"}}
	out := text(func(b *bytes.Buffer) { directory.WriteDomains(b, ds, false) })
	if !strings.Contains(out, "DOMAIN") || !strings.Contains(out, "xn--bcher-kva.example  0          0        bücher.example alias of example.org") {
		t.Errorf("domains:\n%s", out)
	}
	if out := text(func(b *bytes.Buffer) { directory.WriteDomains(b, nil, true) }); out != "[]\n" {
		t.Errorf("no domains as JSON: %q", out)
	}

	as := []directory.Alias{{Address: "@example.org", Destinations: []string{"a@example.org"}}, {Address: "info@example.org", Destinations: []string{"a@example.org", "b@example.net"}}}
	out = text(func(b *bytes.Buffer) { directory.WriteAliases(b, as, false) })
	if !strings.Contains(out, "@example.org (catch-all)  a@example.org") || !strings.Contains(out, "a@example.org, b@example.net") {
		t.Errorf("aliases:\n%s", out)
	}

	mbs := []*directory.Mailbox{
		{Address: "a@example.org", PasswordHash: "{ARGON2ID}$argon2id$v=19$x", Enabled: true, QuotaBytes: 1 << 30},
		{Address: "b@example.org", PasswordHash: "$6$salt$hash", QuotaMessages: 500, Maildir: "/srv/b"},
		{Address: "c@example.org", Enabled: true},
	}
	maildirOf := func(mb *directory.Mailbox) string {
		if mb.Maildir != "" {
			return mb.Maildir
		}
		return "/var/vmail/" + mb.Address
	}
	out = text(func(b *bytes.Buffer) { directory.WriteMailboxes(b, mbs, maildirOf, false) })
	for _, want := range []string{"a@example.org  enabled   1G", "ARGON2ID", "b@example.org  disabled  default  500", "SHA512-CRYPT  /srv/b", "c@example.org  enabled   default  default   none"} {
		if !strings.Contains(out, want) {
			t.Errorf("mailboxes: no %q in\n%s", want, out)
		}
	}
	var rows []struct {
		Address    string
		MaildirSet bool   `json:"maildir_set"`
		Maildir    string `json:"maildir"`
		Scheme     string `json:"password_scheme"`
	}
	out = text(func(b *bytes.Buffer) { directory.WriteMailboxes(b, mbs, maildirOf, true) })
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 || !rows[1].MaildirSet || rows[0].Maildir != "/var/vmail/a@example.org" || rows[2].Scheme != "none" {
		t.Errorf("mailboxes as JSON: %s (%v)", out, err)
	}
	if out := text(func(b *bytes.Buffer) { directory.WriteMailboxes(b, nil, maildirOf, true) }); out != "[]\n" {
		t.Errorf("no mailboxes as JSON: %q", out)
	}
}

func TestResolutionSaysWhereMailGoes(t *testing.T) {
	r := &directory.Resolution{Address: "info@example.org", Mailboxes: []*directory.Mailbox{{Address: "a@example.org", Enabled: true}, {Address: "b@example.org"}},
		Forwards: []string{"x@example.net"}, Chain: []string{"info@example.org", "team@example.org"}}
	want := "info@example.org: mailbox a@example.org\ninfo@example.org: mailbox b@example.org (disabled)\n" +
		"info@example.org: forward x@example.net\ninfo@example.org: addresses passed: info@example.org, team@example.org\n"
	if out := text(func(b *bytes.Buffer) { directory.WriteResolution(b, r, false) }); out != want {
		t.Errorf("resolution:\n%s\nwant\n%s", out, want)
	}
	unknown := &directory.Resolution{Address: "nobody@example.org", Chain: []string{"nobody@example.org"}}
	if out := text(func(b *bytes.Buffer) { directory.WriteResolution(b, unknown, false) }); out != "nobody@example.org: unknown\n" {
		t.Errorf("unknown: %q", out)
	}
	var j struct {
		Mailboxes []map[string]any
		Forwards  []string
		Unknown   bool
	}
	out := text(func(b *bytes.Buffer) { directory.WriteResolution(b, unknown, true) })
	if err := json.Unmarshal([]byte(out), &j); err != nil || !j.Unknown || j.Mailboxes == nil || j.Forwards == nil {
		t.Errorf("unknown as JSON: %s (%v)", out, err)
	}
}

func TestImportResultText(t *testing.T) {
	res := &directory.ImportResult{DryRun: true, AddedDomains: []string{"example.org"}, AddedMailboxes: 2, Changes: []string{"add mailbox a@example.org"},
		Bad: []directory.BadLine{{Line: 3, Reason: "no password"}}}
	if out := text(func(b *bytes.Buffer) { res.WriteText(b) }); out != "add mailbox a@example.org\nwould import (dry run, nothing changed): 1 domain added, 2 mailboxes added, 0 updated, 1 line skipped\n" {
		t.Errorf("text: %q", out)
	}
	if out := text(func(b *bytes.Buffer) { res.WriteBad(b, "users.csv") }); out != "users.csv:3: skipped: no password\n" {
		t.Errorf("bad lines: %q", out)
	}
	res = &directory.ImportResult{}
	if out := text(func(b *bytes.Buffer) { res.WriteJSON(b) }); !strings.Contains(out, `"bad_lines": []`) {
		t.Errorf("JSON: %s", out)
	}
}
