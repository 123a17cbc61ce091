package directory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/passwd"
)

func parser() *Directory { return &Directory{policy: passwd.DefaultPolicy} }

func TestParseDovecotPasswdFields(t *testing.T) {
	p, err := parser().ParseDovecotPasswd(strings.NewReader(
		"alice:{SHA256-CRYPT}$5$rfkCJp1uPjIBmckF$BOMOwlCnPmAcnG/ejy72gWboenWBXdgnqqH012hLew3:1000:1000::/home/alice::userdb_quota_rule=*:storage=2G userdb_quota_rule2=*:messages=100 userdb_mail=maildir:/srv/mail/alice:LAYOUT=fs\n"), "Example.COM")
	if err != nil || len(p.Bad) != 0 || len(p.Entries) != 1 {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	e := p.Entries[0]
	if e.Mailbox.Address != "alice@example.com" || e.Mailbox.QuotaBytes != 2<<30 || e.Mailbox.Maildir != "/srv/mail/alice" || !e.HasQuota || !e.HasMaildir {
		t.Fatalf("entry = %+v", e)
	}
}

func FuzzParseDovecotPasswd(f *testing.F) {
	for _, s := range []string{
		"a@b.c:{PLAIN}x:::::",
		"user:{SSHA512}mMw3VzRlPuhRI8rCrnIZx+WSSvNRQby1fs3NLgg/xc7XTTlz7keJVIHXQqwqLGiRWt/npvtOawJRxW9zxA9sVRzIg7k=:1:1::/h::userdb_quota_rule=*:storage=1G",
		"# c\n\nx\n:::\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parser().ParseDovecotPasswd(strings.NewReader(s), "example.com")
		if err != nil {
			return
		}
		for _, e := range p.Entries {
			if e.Line < 1 || !strings.Contains(e.Mailbox.Address, "@") {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{"address,password\na@b.c,,1G,10,yes,/m\n", "\"unterminated\n", "x,y,z,w,v,u,t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parser().ParseCSV(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, b := range p.Bad {
			if b.Reason == "" {
				t.Fatalf("bad line %d without a reason", b.Line)
			}
		}
	})
}

// ebb import: a dry run changes nothing; the import adds the good lines
// and names the bad ones; a file that cannot be read through is exit 65
// naming it.
func TestImportFile(t *testing.T) {
	ctx := context.Background()
	d, _ := openTestDirectory(t)
	csv := "address,password\nalice@example.test,\nnot an address,\n"
	res, err := d.ImportFile(ctx, ImportCSV, strings.NewReader(csv), "users.csv", "", true)
	if err != nil || !res.DryRun || res.AddedMailboxes != 1 || len(res.Bad) != 1 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if mbs, _ := d.Mailboxes(ctx, ""); len(mbs) != 0 {
		t.Fatalf("a dry run added %d mailboxes", len(mbs))
	}
	if res, err = d.ImportFile(ctx, ImportCSV, strings.NewReader(csv), "users.csv", "", false); err != nil || res.AddedMailboxes != 1 || len(res.Bad) != 1 || res.Bad[0].Line != 3 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	if _, err := d.Mailbox(ctx, "alice@example.test"); err != nil {
		t.Errorf("alice: %v", err)
	}
	res, err = d.ImportFile(ctx, ImportDovecotPasswd, strings.NewReader("bob:{PLAIN}x:::::\n"), "passwd", "example.test", false)
	if err != nil || res.AddedMailboxes+len(res.Bad) != 1 {
		t.Errorf("dovecot-passwd with --domain: %+v, %v", res, err)
	}
	var ec interface{ ExitCode() int }
	if _, err := d.ImportFile(ctx, ImportCSV, iotest.ErrReader(errors.New("read error")), "users.csv", "", false); !errors.As(err, &ec) || ec.ExitCode() != 65 || !strings.Contains(err.Error(), "users.csv: read error") {
		t.Errorf("unreadable: %v", err)
	}
}

func TestOpenImportFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.csv")
	if _, err := OpenImportFile(path); err == nil {
		t.Fatal("a missing file opened")
	} else if d, ok := diag.As(err); !ok || d.ExitCode() != diag.ExNoInput || d.Class != diag.Permanent || d.Path != path || !strings.Contains(d.Sentence(), "read the import file") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("address,password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenImportFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
