package resolve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func testRows() *MapRows {
	return &MapRows{
		Domains: map[string]string{"example.com": "", "example.org": "example.com", "other.test": ""},
		First:   "example.com",
		Aliases: map[string][]string{
			"team@example.com":       {"alice@example.com", "bob@example.com", "dave@remote.example"},
			"@other.test":            {"carol@other.test"},
			"postmaster@example.com": {"alice@example.com"},
			"loop@example.com":       {"loop2@example.com"},
			"loop2@example.com":      {"loop@example.com"},
		},
		Mailboxes: map[string]*Mailbox{
			"alice@example.com": {Address: "alice@example.com", Enabled: true, QuotaBytes: 1 << 20, Maildir: "/srv/alice"},
			"bob@example.com":   {Address: "Bob@example.com", Enabled: false, QuotaMessages: 7},
			"carol@other.test":  {Address: "carol@other.test", Enabled: true, PasswordHash: "{PLAIN}secret"},
		},
	}
}

func writeTestMap(t *testing.T) (db, path string) {
	t.Helper()
	dir := t.TempDir()
	db = filepath.Join(dir, "directory.db")
	if err := os.WriteFile(db, []byte("sqlite"), 0o640); err != nil {
		t.Fatal(err)
	}
	stamp, err := StampOf(db)
	if err != nil {
		t.Fatal(err)
	}
	path = MapPath(db)
	if err := WriteMap(path, stamp, testRows(), 0o640, -1, -1); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func TestMapResolvesWithTheOneWalk(t *testing.T) {
	db, path := writeTestMap(t)
	m, err := OpenMap(path, Options{SubaddressSeparator: "+", MaxAliasDepth: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Stale(db); err != nil {
		t.Fatalf("a map just written is stale: %v", err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		addr            string
		mailboxes, fwds []string
		detail          string
	}{
		{"ALICE+news@Example.ORG", []string{"alice@example.com"}, nil, "news"},
		{"team@example.com", []string{"alice@example.com", "Bob@example.com"}, []string{"dave@remote.example"}, ""},
		{"anyone@other.test", []string{"carol@other.test"}, nil, ""},
		{"postmaster@other.test", []string{"carol@other.test"}, nil, ""}, // the catch-all takes it first
		{"nobody@example.com", nil, nil, ""},
		{"x@elsewhere.test", nil, nil, ""},
	} {
		r, err := m.Resolve(ctx, c.addr)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", c.addr, err)
		}
		var got []string
		for _, mb := range r.Mailboxes {
			got = append(got, mb.Address)
			if mb.PasswordHash != "" {
				t.Fatalf("the map gave a password hash for %s", mb.Address)
			}
		}
		if !slices.Equal(got, c.mailboxes) || !slices.Equal(r.Forwards, c.fwds) || r.Detail != c.detail {
			t.Fatalf("Resolve(%q) = %v %v %q, want %v %v %q", c.addr, got, r.Forwards, r.Detail, c.mailboxes, c.fwds, c.detail)
		}
	}
	if _, err := m.Resolve(ctx, "loop@example.com"); !errors.Is(err, ErrAliasLoop) {
		t.Fatalf("a loop: %v", err)
	}
	mb, err := m.Mailbox(ctx, "BOB@example.org")
	if err != nil || mb.Address != "Bob@example.com" || mb.Enabled || mb.QuotaMessages != 7 {
		t.Fatalf("Mailbox through the domain alias: %+v %v", mb, err)
	}
	if _, err := m.Mailbox(ctx, "nobody@example.com"); !errors.Is(err, ErrNoMailbox) {
		t.Fatalf("Mailbox of nobody: %v", err)
	}
	for dom, want := range map[string]bool{"EXAMPLE.org": true, "other.test.": true, "remote.example": false} {
		if ok, err := m.IsLocalDomain(ctx, dom); ok != want || err != nil {
			t.Fatalf("IsLocalDomain(%q) = %v %v", dom, ok, err)
		}
	}
}

// Any change to the database's files makes the map stale: a write to the
// database, a -wal appearing, growing or going, the file replaced.
// RestampMap takes the files as they are now and keeps the rows.
func TestMapIsStaleAfterAnyChangeOfTheFiles(t *testing.T) {
	db, path := writeTestMap(t)
	stale := func() error {
		m, err := OpenMap(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		return m.Stale(db)
	}
	for _, change := range []struct {
		name string
		do   func() error
	}{
		{"a -wal appears", func() error { return os.WriteFile(db+"-wal", nil, 0o640) }},
		{"the -wal grows", func() error {
			f, err := os.OpenFile(db+"-wal", os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				_, err = f.Write([]byte("frame"))
				f.Close()
			}
			return err
		}},
		{"a checkpoint writes the database", func() error {
			f, err := os.OpenFile(db, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteAt([]byte("S"), 0) // same size
				f.Close()
			}
			return err
		}},
		{"the -wal goes", func() error { return os.Remove(db + "-wal") }},
		{"the database is replaced", func() error {
			if err := os.WriteFile(db+".new", []byte("sqlite"), 0o640); err != nil {
				return err
			}
			return os.Rename(db+".new", db)
		}},
		{"its owner or mode changes", func() error { return os.Chmod(db, 0o600) }},
	} {
		if err := change.do(); err != nil {
			t.Fatal(err)
		}
		if err := stale(); err == nil || !strings.Contains(err.Error(), "before the last change") {
			t.Fatalf("after %s: Stale = %v", change.name, err)
		}
		if err := RestampMap(path, db); err != nil {
			t.Fatal(err)
		}
		if err := stale(); err != nil {
			t.Fatalf("restamped after %s: %v", change.name, err)
		}
	}
	m, err := OpenMap(path, Options{MaxAliasDepth: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if r, err := m.Resolve(context.Background(), "team@example.com"); err != nil || len(r.Mailboxes) != 2 {
		t.Fatalf("the rows after restamping: %+v %v", r, err)
	}
	// A missing database: stale, and says so.
	os.Remove(db)
	if err := m.Stale(db); err == nil {
		t.Fatal("a map of a missing database is fresh")
	}
}

// What is not a map of this format is never taken for a fresh one, and a
// cut map (safeio's rename never publishes one) makes lookups fail, not
// panic.
func TestMapOfAnotherFormatOrCutIsNotUsed(t *testing.T) {
	db, path := writeTestMap(t)
	raw, _ := os.ReadFile(path)
	for n := 0; n < len(raw); n += len(raw)/50 + 1 {
		os.WriteFile(path, raw[:n], 0o640)
		if m, err := OpenMap(path, Options{MaxAliasDepth: 10}); err == nil {
			m.Stale(db)
			m.Resolve(context.Background(), "team@example.com")
			m.Close()
		}
	}
	os.WriteFile(path, append([]byte("not a cdb"), make([]byte, 4096)...), 0o640)
	m, err := OpenMap(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Stale(db); err == nil || !strings.Contains(err.Error(), "not a map") {
		t.Fatalf("garbage: Stale = %v", err)
	}
}
