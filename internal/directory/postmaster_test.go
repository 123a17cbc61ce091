package directory_test

import (
	"context"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
)

// RFC 5321 §4.5.1: postmaster@ every hosted domain reaches someone, even
// without a mailbox or alias of that name.
func TestPostmasterOfEveryDomainReachesSomeone(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, setting, ask, want string
	}{
		{"the first domain's postmaster by default", "", "postmaster@second.test", "postmaster@first.test"},
		{"case does not matter", "", "PostMaster@second.test", "postmaster@first.test"},
		{"the setting names where it goes", "boss@second.test", "postmaster@third.test", "boss@second.test"},
		{"a domain's own postmaster alias wins", "boss@second.test", "postmaster@first.test", "postmaster@first.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.Directory.Postmaster = tc.setting
			d, err := directory.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			for _, dom := range []string{"first.test", "second.test", "third.test"} {
				if err := d.AddDomain(ctx, dom); err != nil {
					t.Fatal(err)
				}
			}
			for _, a := range []string{"postmaster@first.test", "boss@second.test"} {
				if err := d.AddMailbox(ctx, directory.Mailbox{Address: a, Enabled: true}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := d.Resolve(ctx, tc.ask)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Mailboxes) != 1 || res.Mailboxes[0].Address != tc.want {
				t.Errorf("%s reaches %+v, want %s", tc.ask, res.Mailboxes, tc.want)
			}
		})
	}
	// Nobody to send it to: still Unknown, refused at RCPT (and doctor warns).
	d, err := directory.Open(ctx, testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.AddDomain(ctx, "lonely.test")
	if res, err := d.Resolve(ctx, "postmaster@lonely.test"); err != nil || !res.Unknown() {
		t.Errorf("postmaster of the only domain without a mailbox: %+v %v", res, err)
	}
}
