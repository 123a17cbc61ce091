package directory

import (
	"strings"
	"testing"

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
