package directorytest

import (
	"errors"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
)

// Names that can never work are refused when they are added, with the
// reason, on every backend (issue 24).
func init() {
	Cases = append(Cases,
		Case{"mailbox names that cannot be Maildirs or addresses are refused when added", namesRefused},
	)
}

func namesRefused(t *testing.T, d *directory.Directory) {
	seed(t, d)
	for _, c := range []struct{ name, why string }{
		{".dot@example.com", "dot at the start"},
		{"dot.@example.com", "dot at the start or end"},
		{"..@example.com", "dot at the start"},
		{"a..b@example.com", "two dots"},
		{"a/b@example.com", `"/" in the local part`},
		{"a\x01b@example.com", "control character"},
		{"a\x1b[31mb@example.com", "control character"},
		{"a\u0085b@example.com", "control character"},
		{"a\"b@example.com", "need quotes"},
		{"a%b@example.com", "routing"},
		{"\xffab@example.com", "UTF-8"},
	} {
		err := d.AddMailbox(ctx, directory.Mailbox{Address: c.name, Enabled: true})
		if !errors.Is(err, directory.ErrBadAddress) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("AddMailbox(%q) = %v; want ErrBadAddress saying %q", c.name, err, c.why)
		}
		if err := d.AddAlias(ctx, c.name, "alice@example.com"); c.why != `"/" in the local part` && !errors.Is(err, directory.ErrBadAddress) {
			t.Errorf("AddAlias(%q) = %v; want ErrBadAddress", c.name, err)
		}
		if err := d.AddAlias(ctx, "postmaster@example.com", c.name); c.why != `"/" in the local part` && !errors.Is(err, directory.ErrBadAddress) {
			t.Errorf("AddAlias(postmaster, %q) = %v; want ErrBadAddress", c.name, err)
		}
	}
	mbs, err := d.Mailboxes(ctx, "")
	must(t, err)
	if got := addresses(mbs); len(got) != 3 {
		t.Errorf("mailboxes after the refusals: %v", got)
	}
	// What may be a Maildir and an address is still taken.
	for _, ok := range []string{"o'neil@example.com", "a.b+c@example.com", "jürgen@example.com", "x_y-z~{1}@example.com"} {
		if err := d.AddMailbox(ctx, directory.Mailbox{Address: ok, Enabled: true}); err != nil {
			t.Errorf("AddMailbox(%q) = %v", ok, err)
		}
	}
	// "/" is fine in an alias (it names no directory) and the catch-all
	// has no local part at all.
	must(t, d.AddAlias(ctx, "sales/eu@example.com", "alice@example.com"))
	must(t, d.AddAlias(ctx, "@other.test", "carol@other.test"))

	for _, c := range []struct{ path, why string }{
		{"relative/Maildir", "absolute"},
		{"/var/mail/a\nb", "control character"},
		{"/var/mail/a:b", `":"`},
	} {
		if err := d.SetMaildir(ctx, "alice@example.com", c.path); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("SetMaildir(%q) = %v; want a refusal saying %q", c.path, err, c.why)
		}
		if err := d.AddMailbox(ctx, directory.Mailbox{Address: "new@example.com", Maildir: c.path}); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("AddMailbox with maildir %q = %v; want a refusal saying %q", c.path, err, c.why)
		}
	}

	plan, err := d.ParseCSV(strings.NewReader("address\n.hidden@example.com\nfine@example.com\na/b@example.com\nm@example.com,,,,,rel/Maildir\n"))
	must(t, err)
	if len(plan.Entries) != 1 || plan.Entries[0].Mailbox.Address != "fine@example.com" || len(plan.Bad) != 3 {
		t.Fatalf("import plan: %+v", plan)
	}
	for i, why := range []string{"dot at the start", `"/" in the local part`, "absolute"} {
		if !strings.Contains(plan.Bad[i].Reason, why) {
			t.Errorf("import line %d refused with %q, want it to say %q", plan.Bad[i].Line, plan.Bad[i].Reason, why)
		}
	}
}
