package directory

import (
	"bytes"
	"context"
	"testing"
)

func TestAddDomainFromCommandSaysWhatWasAdded(t *testing.T) {
	ctx := context.Background()
	d, _ := openTestDirectory(t)
	var b bytes.Buffer
	if err := d.AddDomainFromCommand(ctx, &b, "Example.NET", ""); err != nil || b.String() != "domain example.net added\n" {
		t.Errorf("hosted: %v, %q", err, b.String())
	}
	b.Reset()
	if err := d.AddDomainFromCommand(ctx, &b, "Alias.TEST", "example.test"); err != nil || b.String() != "domain alias alias.test → example.test added\n" {
		t.Errorf("alias: %v, %q", err, b.String())
	}
	b.Reset()
	if err := d.AddDomainFromCommand(ctx, &b, "other.test", "nosuch.test"); err == nil || b.Len() != 0 {
		t.Errorf("alias of a domain not hosted: %v, %q", err, b.String())
	}
	if err := d.AddDomainFromCommand(ctx, &b, "example.net", ""); err == nil || b.Len() != 0 {
		t.Errorf("added twice: %v, %q", err, b.String())
	}
	ds, err := d.Domains(ctx)
	if err != nil || len(ds) != 3 {
		t.Errorf("domains %+v, %v", ds, err)
	}
}

func TestParseQuota(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		bytes int64
		msgs  int64
		bad   bool
	}{
		{[]string{"0"}, 0, 0, false}, {[]string{"512M"}, 512 << 20, 0, false}, {[]string{"2G", "1000"}, 2 << 30, 1000, false},
		{[]string{"lots"}, 0, 0, true}, {[]string{"1G", "-1"}, 0, 0, true}, {[]string{"1G", "many"}, 0, 0, true},
	} {
		q, msgs, err := ParseQuota(tc.args[0], tc.args[1:]...)
		if (err != nil) != tc.bad || (!tc.bad && (int64(q) != tc.bytes || msgs != tc.msgs)) {
			t.Errorf("ParseQuota(%q) = %d, %d, %v", tc.args, q, msgs, err)
		}
	}
	if _, _, err := ParseQuota("1G", "x"); err == nil || err.Error() != `MESSAGES "x" is not a count` {
		t.Errorf("bad count: %v", err)
	}
}
