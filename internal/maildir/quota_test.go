package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseQuota(t *testing.T) {
	cases := map[string]Quota{
		"10000000S,1000C": {10000000, 1000},
		"5000S":           {5000, 0},
		"20C":             {0, 20},
		"":                {},
	}
	for in, want := range cases {
		if got, err := ParseQuota(in); err != nil || got != want {
			t.Errorf("ParseQuota(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"10X", "abcS", "-5S"} {
		if _, err := ParseQuota(bad); err == nil {
			t.Errorf("ParseQuota(%q) accepted", bad)
		}
	}
}

func put(t *testing.T, path string, size int) {
	os.MkdirAll(filepath.Dir(path), 0o700)
	if err := os.WriteFile(path, []byte(strings.Repeat("x", size)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRecalculateCountsFoldersButNotTrash(t *testing.T) {
	d := newMaildir(t)
	put(t, filepath.Join(d, "new", "1.M1P1.h,S=100,W=104"), 3) // S= wins over the real size
	put(t, filepath.Join(d, "cur", "2.M1P1.h:2,S"), 50)        // no S=: stat
	put(t, filepath.Join(d, ".Work", "cur", "3.M1P1.h,S=30:2,"), 30)
	put(t, filepath.Join(d, ".Trash", "cur", "4.M1P1.h,S=1000:2,"), 1000)
	put(t, filepath.Join(d, "new", ".probe"), 7)
	u, err := Recalculate(d)
	if err != nil {
		t.Fatal(err)
	}
	if u != (Usage{Bytes: 180, Messages: 3}) {
		t.Errorf("usage %+v, want 180 bytes in 3 messages", u)
	}
}

func TestCheckQuota(t *testing.T) {
	t.Run("no limit anywhere: no file made", func(t *testing.T) {
		d := newMaildir(t)
		if err := CheckQuota(d, Quota{}, 1<<30); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(d, "maildirsize")); err == nil {
			t.Error("maildirsize created without a quota")
		}
	})
	t.Run("default limit: file made from a count", func(t *testing.T) {
		d := newMaildir(t)
		put(t, filepath.Join(d, "cur", "1.M1P1.h,S=400:2,"), 400)
		if err := CheckQuota(d, Quota{Bytes: 1000}, 500); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(d, "maildirsize"))
		if string(data) != "1000S\n400 1\n" {
			t.Errorf("maildirsize %q", data)
		}
		var qe *QuotaError
		if err := CheckQuota(d, Quota{Bytes: 1000}, 700); !errors.As(err, &qe) {
			t.Errorf("700 more bytes fit in 600: %v", err)
		}
	})
	t.Run("the file's own limit wins", func(t *testing.T) {
		d := newMaildir(t)
		os.WriteFile(filepath.Join(d, "maildirsize"), []byte("100S\n0 0\n"), 0o600)
		var qe *QuotaError
		if err := CheckQuota(d, Quota{Bytes: 1 << 30}, 200); !errors.As(err, &qe) {
			t.Errorf("200 bytes fit in a 100S file: %v", err)
		}
	})
	t.Run("stale sums are recounted before refusing", func(t *testing.T) {
		d := newMaildir(t)
		// Says 900 bytes used in two lines; the messages were removed
		// by a client that did not update the file.
		os.WriteFile(filepath.Join(d, "maildirsize"), []byte("1000S\n500 1\n400 1\n"), 0o600)
		if err := CheckQuota(d, Quota{}, 500); err != nil {
			t.Errorf("a recount should find the Maildir empty: %v", err)
		}
	})
	t.Run("message count", func(t *testing.T) {
		d := newMaildir(t)
		os.WriteFile(filepath.Join(d, "maildirsize"), []byte("0S,2C\n10 1\n"), 0o600)
		put(t, filepath.Join(d, "new", "1.M1P1.h,S=10"), 10)
		if err := CheckQuota(d, Quota{}, 1); err != nil {
			t.Errorf("second message refused: %v", err)
		}
		AddUsage(d, 1, 1)
		put(t, filepath.Join(d, "new", "2.M1P1.h,S=1"), 1)
		var qe *QuotaError
		if err := CheckQuota(d, Quota{}, 1); !errors.As(err, &qe) {
			t.Errorf("third message accepted over 2C: %v", err)
		}
	})
}

func TestAddUsageAppendsOnlyWhenThereIsAFile(t *testing.T) {
	d := newMaildir(t)
	if err := AddUsage(d, 10, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "maildirsize")); err == nil {
		t.Fatal("AddUsage created maildirsize")
	}
	os.WriteFile(filepath.Join(d, "maildirsize"), []byte("100S\n"), 0o600)
	AddUsage(d, 10, 1)
	AddUsage(d, 20, 1)
	data, _ := os.ReadFile(filepath.Join(d, "maildirsize"))
	if string(data) != "100S\n10 1\n20 1\n" {
		t.Errorf("maildirsize %q", data)
	}
}

// A quota the directory changed applies at the next delivery: the
// definition line of maildirsize is rewritten with a fresh count, and a
// mailbox already past the new limit takes nothing more (issue 21: a 1M
// quota set on a mailbox holding 5.2 MB let the next message in).
func TestEnforceQuotaFollowsTheDirectory(t *testing.T) {
	d := newMaildir(t)
	put(t, filepath.Join(d, "cur", "1.M1P1.h,S=5200000:2,"), 10)
	os.WriteFile(filepath.Join(d, "maildirsize"), []byte("10000000S\n5200000 1\n"), 0o600)
	var qe *QuotaError
	if err := EnforceQuota(d, Quota{Bytes: 1 << 20}, 100); !errors.As(err, &qe) {
		t.Fatalf("a 100-byte message went into a mailbox of 5.2 MB under a 1 MiB quota: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "maildirsize")); string(b) != "1048576S\n5200000 1\n" {
		t.Errorf("maildirsize %q, want the new limit and a fresh count", b)
	}
	// The file's limit alone (a Maildir given by hand) still wins there.
	os.WriteFile(filepath.Join(d, "maildirsize"), []byte("10000000S\n5200000 1\n"), 0o600)
	if err := CheckQuota(d, Quota{Bytes: 1 << 20}, 100); err != nil {
		t.Errorf("CheckQuota: %v", err)
	}
	// Raised again: it fits, and the line says so.
	if err := EnforceQuota(d, Quota{Bytes: 10 << 20, Messages: 50}, 100); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "maildirsize")); !strings.HasPrefix(string(b), "10485760S,50C\n") {
		t.Errorf("maildirsize %q", b)
	}
	// No quota any more: no file, anything fits.
	if err := EnforceQuota(d, Quota{}, 1<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "maildirsize")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("maildirsize kept without a quota: %v", err)
	}
	// PlanQuota decides the same and writes nothing.
	os.WriteFile(filepath.Join(d, "maildirsize"), []byte("10000000S\n5200000 1\n"), 0o600)
	if _, _, err := PlanQuota(d, Quota{Bytes: 1 << 20}, true, 100); !errors.As(err, &qe) {
		t.Errorf("PlanQuota: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "maildirsize")); string(b) != "10000000S\n5200000 1\n" {
		t.Errorf("PlanQuota wrote %q", b)
	}
}
