package maildir

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestNamerNamesAreUniqueAcrossGoroutines(t *testing.T) {
	n := NewNamer("mx1.example.com")
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				name := n.Next()
				mu.Lock()
				if seen[name] {
					t.Errorf("duplicate name %s", name)
				}
				seen[name] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	re := regexp.MustCompile(`^\d+\.M\d+P\d+Q\d+\.mx1\.example\.com$`)
	for name := range seen {
		if !re.MatchString(name) {
			t.Fatalf("name %q is not secs.MusecPpidQn.host", name)
		}
	}
}

func TestSanitizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"mx1.example.com": "mx1.example.com",
		"a/b:c":           `a\057b\072c`,
		"a,b":             `a\054b`,
		".hidden":         "hidden",
		"":                "localhost",
		"sp ace\n":        "space",
	} {
		if got := SanitizeHost(in); got != want {
			t.Errorf("SanitizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModifiedUTF7(t *testing.T) {
	// RFC 3501 §5.1.3 and Dovecot's on-disk names.
	cases := map[string]string{
		"INBOX":              "INBOX",
		"Entwürfe":           "Entw&APw-rfe",
		"a&b":                "a&-b",
		"&":                  "&-",
		"日本語":                "&ZeVnLIqe-",
		"~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
		"Ünïcödé and ASCII":  "&ANw-n&AO8-c&APY-d&AOk- and ASCII",
		"emoji 📨":            "emoji &2D3c6A-",
	}
	for in, want := range cases {
		got, err := EncodeUTF7(in)
		if err != nil || got != want {
			t.Errorf("EncodeUTF7(%q) = %q, %v; want %q", in, got, err, want)
		}
		back, err := DecodeUTF7(got)
		if err != nil || back != in {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want %q", got, back, err, in)
		}
	}
	for _, bad := range []string{"&", "&ZeVn", "&!!!-", "a\x01"} {
		if _, err := DecodeUTF7(bad); err == nil {
			t.Errorf("DecodeUTF7(%q) accepted", bad)
		}
	}
	if _, err := EncodeUTF7("\xff"); err == nil {
		t.Error("EncodeUTF7 accepted invalid UTF-8")
	}
}

func TestFolderName(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"", "", ""},
		{"INBOX", "", ""},
		{"inbox", "", ""},
		{"Work", ".Work", ""},
		{"Work/Reports", ".Work.Reports", ""},
		{"Work.Reports", ".Work.Reports", ""},
		{"INBOX/Work", ".Work", ""},
		{"Entwürfe/2026", ".Entw&APw-rfe.2026", ""},
		{"a..b", "", "empty level"},
		{"/a", "", "empty level"},
		{"a/", "", "empty level"},
		{"a\x01b", "", "control character"},
	}
	for _, c := range cases {
		got, err := FolderName(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("FolderName(%q) = %q, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("FolderName(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func newMaildir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "Maildir")
	if err := Ensure(d, true, false); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTmpCountsSizeAndCRLFSize(t *testing.T) {
	cases := []struct {
		name   string
		chunks []string
		vsize  int64
	}{
		{"LF", []string{"a\nb\n"}, 6},
		{"CRLF", []string{"a\r\nb\r\n"}, 6},
		{"CR and LF split across writes", []string{"a\r", "\nb\n"}, 6},
		{"bare CR", []string{"a\rb"}, 3},
		{"empty", nil, 0},
		{"LF first", []string{"\n", "\n"}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newMaildir(t)
			tmp, err := CreateTmp(d, NewNamer("h"))
			if err != nil {
				t.Fatal(err)
			}
			defer tmp.Remove()
			var size int64
			for _, ch := range c.chunks {
				tmp.Write([]byte(ch))
				size += int64(len(ch))
			}
			if err := tmp.Finish(); err != nil {
				t.Fatal(err)
			}
			if tmp.Size() != size || tmp.VSize() != c.vsize {
				t.Errorf("Size %d VSize %d, want %d %d", tmp.Size(), tmp.VSize(), size, c.vsize)
			}
		})
	}
}

// TestTmpCountMatchesByteByByte checks count's whole-buffer counting
// against the definition, one byte at a time, on random text of a, CR and
// LF cut into random writes (CR LF pairs split across writes included).
func TestTmpCountMatchesByteByByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(28, 1))
	for i := 0; i < 2000; i++ {
		msg := make([]byte, rng.IntN(300))
		for j := range msg {
			msg[j] = "a\r\n"[rng.IntN(3)]
		}
		var want int64
		prevCR := false
		for _, c := range msg {
			want++
			if c == '\n' && !prevCR {
				want++
			}
			prevCR = c == '\r'
		}
		var tmp Tmp
		for rest := msg; len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			tmp.count(rest[:n])
			rest = rest[n:]
		}
		tmp.count(nil)
		if tmp.Size() != int64(len(msg)) || tmp.VSize() != want {
			t.Fatalf("%q: Size %d VSize %d, want %d %d", msg, tmp.Size(), tmp.VSize(), len(msg), want)
		}
	}
}

func TestPublishLinksAndNeverOverwrites(t *testing.T) {
	d := newMaildir(t)
	n := NewNamer("h")
	tmp, _ := CreateTmp(d, n)
	tmp.Write([]byte("Subject: x\n\nbody\n"))
	tmp.Finish()
	defer tmp.Remove()

	// Someone already has the name we would use.
	clash := filepath.Join(d, "new", FinalName(tmp.Base, tmp.Size(), tmp.VSize(), ""))
	os.WriteFile(clash, []byte("older message"), 0o600)

	p, err := Publish(tmp.Path, d, tmp.Base, tmp.Size(), tmp.VSize(), "", n)
	if err != nil {
		t.Fatal(err)
	}
	if p == clash {
		t.Fatal("published over an existing file")
	}
	if old, _ := os.ReadFile(clash); string(old) != "older message" {
		t.Errorf("the existing file changed: %q", old)
	}
	if !strings.HasSuffix(p, ",S=17,W=20") || filepath.Dir(p) != filepath.Join(d, "new") {
		t.Errorf("published as %s", p)
	}

	// With flags: cur/, ":2,<letters>".
	p2, err := Publish(tmp.Path, d, "", tmp.Size(), tmp.VSize(), "FS", n)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p2) != filepath.Join(d, "cur") || !strings.HasSuffix(p2, ",S=17,W=20:2,FS") {
		t.Errorf("flagged message published as %s", p2)
	}
	a, _ := os.Stat(p)
	b, _ := os.Stat(p2)
	if !os.SameFile(a, b) {
		t.Error("two stores of one message are not one file")
	}
}

func TestFlagLetters(t *testing.T) {
	got, ignored := FlagLetters([]string{`\Seen`, `\Flagged`, `\answered`, `$Forwarded`, `\Seen`, "$Junk", `\Deleted`, `\Draft`})
	if got != "DFPRST" {
		t.Errorf("letters %q, want DFPRST (ASCII order)", got)
	}
	if len(ignored) != 1 || ignored[0] != "$Junk" {
		t.Errorf("ignored %v, want [$Junk]", ignored)
	}
	if got, _ := FlagLetters(nil); got != "" {
		t.Errorf("no flags gave %q", got)
	}
}

func TestEnsureAndCheck(t *testing.T) {
	base := t.TempDir()
	d := filepath.Join(base, "a", "Maildir")
	var me *MissingError
	if err := Ensure(d, false, false); !errors.As(err, &me) || len(me.Missing) != 3 || len(me.Present) != 0 {
		t.Fatalf("missing Maildir without create: %v", err)
	}
	if err := Ensure(d, true, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range Subdirs {
		st, err := os.Stat(filepath.Join(d, s))
		if err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", s, err, st.Mode())
		}
	}
	os.Remove(filepath.Join(d, "new"))
	err := Check(d)
	if !errors.As(err, &me) || strings.Join(me.Missing, ",") != "new" || me.Error() != "the Maildir lacks new/ (tmp/, cur/ present)" {
		t.Errorf("Check with new/ missing: %v", err)
	}
	f := filepath.Join(d, ".Work")
	if err := Ensure(f, true, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f, "maildirfolder")); err != nil {
		t.Errorf("folder lacks maildirfolder: %v", err)
	}
	os.WriteFile(filepath.Join(base, "file"), nil, 0o600)
	if err := Ensure(filepath.Join(base, "file"), true, false); err == nil {
		t.Error("Ensure on a regular file succeeded")
	}
}

func TestHasFolderIsMailboxExists(t *testing.T) {
	top := t.TempDir()
	os.MkdirAll(filepath.Join(top, ".Work.Reports", "cur"), 0o700)
	os.MkdirAll(filepath.Join(top, ".Half"), 0o700) // no cur/: not a folder yet
	os.WriteFile(filepath.Join(top, ".File"), nil, 0o600)
	for folder, want := range map[string]bool{
		"INBOX": true, "inbox": true, "Work/Reports": true, "Work.Reports": true,
		"Work": false, "Half": false, "File": false, "Nope": false, "a..b": false,
	} {
		if got := HasFolder(top, folder); got != want {
			t.Errorf("HasFolder(%q) = %v, want %v", folder, got, want)
		}
	}
}

// chunkReader returns its data a few bytes at a time (sometimes none), as
// the header filter returns a field per Read, then err.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := min(len(p), len(r.data), r.rng.IntN(120))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// ReadFrom gathers small reads into whole buffers: the file gets every
// byte in order, counted as Write counts them, and a read error after
// some data still leaves that data written and says it is a read error.
func TestTmpReadFromSmallReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(28, 2))
	for _, size := range []int{0, 1, 4096, 64<<10 - 1, 64 << 10, 200<<10 + 7} {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = "ab\r\n"[rng.IntN(4)]
		}
		var want Tmp
		want.count(msg)
		for _, rerr := range []error{io.EOF, errors.New("stdin went away")} {
			d := newMaildir(t)
			tmp, err := CreateTmp(d, NewNamer("h"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := tmp.ReadFrom(&chunkReader{data: msg, rng: rng, err: rerr})
			var re *ReadError
			if rerr == io.EOF && err != nil || rerr != io.EOF && (!errors.As(err, &re) || re.Err != rerr) {
				t.Fatalf("%d bytes, reader ending in %v: ReadFrom error %v", size, rerr, err)
			}
			if err := tmp.Finish(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(tmp.Path)
			if n != int64(size) || !bytes.Equal(got, msg) || tmp.Size() != want.Size() || tmp.VSize() != want.VSize() {
				t.Fatalf("%d bytes, reader ending in %v: returned %d, file %d bytes (same: %v), Size %d VSize %d, want %d %d",
					size, rerr, n, len(got), bytes.Equal(got, msg), tmp.Size(), tmp.VSize(), want.Size(), want.VSize())
			}
			tmp.Remove()
		}
	}
}
