package cdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func write(t testing.TB, path string, recs [][2]string) {
	t.Helper()
	b := NewBuilder()
	for _, r := range recs {
		b.Add([]byte(r[0]), []byte(r[1]))
	}
	db, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, path string) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	r, err := NewReader(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func records(n int) [][2]string {
	rnd := rand.New(rand.NewPCG(1, 2))
	var recs [][2]string
	for i := range n {
		k := fmt.Sprintf("key-%d-%x", i, rnd.Uint64())
		recs = append(recs, [2]string{k, strings.Repeat("v", rnd.IntN(40)) + k})
	}
	return append(recs, [2]string{"", "empty key"}, [2]string{"dup", "first"}, [2]string{"dup", "second"}, [2]string{"no data", ""})
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.cdb")
	recs := records(3000)
	write(t, path, recs)
	r := open(t, path)
	for _, rec := range recs {
		v, ok, err := r.Get([]byte(rec[0]))
		want := rec[1]
		if rec[0] == "dup" {
			want = "first"
		}
		if err != nil || !ok || string(v) != want {
			t.Fatalf("Get(%q) = %q %v %v, want %q", rec[0], v, ok, err, want)
		}
	}
	i := 0
	if err := r.ForEach(func(k, v []byte) error {
		if string(k) != recs[i][0] || string(v) != recs[i][1] {
			return fmt.Errorf("record %d: %q %q, want %q", i, k, v, recs[i])
		}
		i++
		return nil
	}); err != nil || i != len(recs) {
		t.Fatalf("ForEach: %v after %d of %d records", err, i, len(recs))
	}
	for _, k := range []string{"key-", "missing", "dupe", "key-1-"} {
		if v, ok, err := r.Get([]byte(k)); ok || err != nil {
			t.Fatalf("Get(%q) = %q %v %v, want nothing", k, v, ok, err)
		}
	}
	// An empty database.
	empty := filepath.Join(t.TempDir(), "e.cdb")
	write(t, empty, nil)
	if _, ok, err := open(t, empty).Get([]byte("x")); ok || err != nil {
		t.Fatalf("empty: %v %v", ok, err)
	}
}

// The format is tinycdb's (Debian's cdb(1)): it reads what we write, and
// we read what it writes, duplicates and empty keys included.
func TestTinycdbAgrees(t *testing.T) {
	dir := t.TempDir()
	recs := records(500)
	ours := filepath.Join(dir, "ours.cdb")
	write(t, ours, recs)
	out, err := exec.Command("cdb", "-d", ours).Output()
	if err != nil {
		t.Fatalf("cdb -d (tinycdb, test/packages.txt): %v", err)
	}
	var want bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&want, "+%d,%d:%s->%s\n", len(r[0]), len(r[1]), r[0], r[1])
	}
	want.WriteString("\n")
	if !bytes.Equal(out, want.Bytes()) {
		t.Fatalf("cdb -d of our file differs:\n%.300s\nwant\n%.300s", out, want.Bytes())
	}
	for _, k := range []string{recs[7][0], "dup", ""} {
		got, err := exec.Command("cdb", "-q", "-n", "1", ours, k).Output()
		w := map[string]string{"dup": "first", "": "empty key"}[k]
		if w == "" {
			w = recs[7][1]
		}
		if err != nil || string(got) != w {
			t.Fatalf("cdb -q %q: %q %v, want %q", k, got, err, w)
		}
	}
	theirs := filepath.Join(dir, "theirs.cdb")
	c := exec.Command("cdb", "-c", theirs)
	c.Stdin = &want
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("cdb -c: %v %s", err, out)
	}
	r := open(t, theirs)
	for _, rec := range recs {
		v, ok, err := r.Get([]byte(rec[0]))
		w := rec[1]
		if rec[0] == "dup" {
			w = "first"
		}
		if err != nil || !ok || string(v) != w {
			t.Fatalf("tinycdb's file: Get(%q) = %q %v %v", rec[0], v, ok, err)
		}
	}
}

// FuzzReader: any bytes as a database never panic a lookup.
func FuzzReader(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.cdb")
	write(f, path, [][2]string{{"a", "1"}, {"bc", "22"}, {"a", "3"}})
	seed, _ := os.ReadFile(path)
	f.Add(seed, []byte("a"))
	f.Add(seed, []byte("bc"))
	f.Fuzz(func(t *testing.T, db, key []byte) {
		r, err := NewReader(bytes.NewReader(db), int64(len(db)))
		if err != nil {
			return
		}
		r.Get(key)
		r.ForEach(func(k, v []byte) error { return nil })
	})
}
