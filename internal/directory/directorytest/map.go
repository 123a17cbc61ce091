package directorytest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/resolve"
)

// A SQLite directory keeps a delivery map (resolve.Map) that a delivery
// agent resolves from without SQLite. Every lookup of the suite is made
// through both: the map must be fresh after each change made through the
// directory, and say exactly what the database says (one implementation
// of resolution, two sources of rows). PostgreSQL has no map.

func openMap(t *testing.T, d *directory.Directory) *resolve.Map {
	t.Helper()
	path := d.MapPath()
	if path == "" {
		return nil
	}
	m, err := resolve.OpenMap(path, d.ResolveOptions())
	if err != nil {
		t.Fatalf("the delivery map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Stale(d.Where()); err != nil {
		t.Fatalf("the delivery map is stale after a change through the directory: %v", err)
	}
	return m
}

func resolveBoth(t *testing.T, d *directory.Directory, addr string) (*directory.Resolution, error) {
	t.Helper()
	r, err := d.Resolve(ctx, addr)
	if m := openMap(t, d); m != nil {
		mr, merr := m.Resolve(ctx, addr)
		if fmt.Sprint(err) != fmt.Sprint(merr) || errors.Is(err, directory.ErrAliasLoop) != errors.Is(merr, directory.ErrAliasLoop) {
			t.Fatalf("Resolve(%q): the directory says error %v, the delivery map %v", addr, err, merr)
		}
		if err == nil {
			a, b := *r, *mr
			am, bm := withoutSecrets(a.Mailboxes), withoutSecrets(b.Mailboxes)
			a.Mailboxes, b.Mailboxes = nil, nil
			if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(am, bm) {
				t.Fatalf("Resolve(%q): the directory says %+v %+v, the delivery map %+v %+v", addr, a, am, b, bm)
			}
		}
	}
	return r, err
}

// withoutSecrets: the map holds no password hash.
func withoutSecrets(mbs []*directory.Mailbox) []directory.Mailbox {
	var out []directory.Mailbox
	for _, mb := range mbs {
		c := *mb
		c.PasswordHash = ""
		out = append(out, c)
	}
	return out
}

func isLocalBoth(t *testing.T, d *directory.Directory, domain string) (bool, error) {
	t.Helper()
	ok, err := d.IsLocalDomain(ctx, domain)
	if m := openMap(t, d); m != nil {
		mok, merr := m.IsLocalDomain(ctx, domain)
		if ok != mok || (err == nil) != (merr == nil) {
			t.Fatalf("IsLocalDomain(%q): the directory says %v %v, the delivery map %v %v", domain, ok, err, mok, merr)
		}
	}
	return ok, err
}

func mailboxBoth(t *testing.T, d *directory.Directory, addr string) (*directory.Mailbox, error) {
	t.Helper()
	mb, err := d.Mailbox(ctx, addr)
	if m := openMap(t, d); m != nil {
		mmb, merr := m.Mailbox(ctx, addr)
		if (err == nil) != (merr == nil) {
			t.Fatalf("Mailbox(%q): the directory says %v, the delivery map %v", addr, err, merr)
		}
		if err == nil && !reflect.DeepEqual(withoutSecrets([]*directory.Mailbox{mb}), withoutSecrets([]*directory.Mailbox{mmb})) {
			t.Fatalf("Mailbox(%q): the directory says %+v, the delivery map %+v", addr, mb, mmb)
		}
	}
	return mb, err
}
