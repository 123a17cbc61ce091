package deliver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/directory"
)

// stagedSizes measures data as a spool file: the bound MeasureStaged
// gives from the header alone (and whether it read the whole copy
// instead), and the copy's size (Exact: the whole copy read).
func stagedSizes(t testing.TB, data []byte) (bound, exact int64, readAll bool) {
	t.Helper()
	a := &Agent{Component: "test"}
	path := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := Envelope{Sender: "s@example.org", Prefix: []byte("Received: by mx.test\r\n"),
		StripAuthResults: "mx.test", RenameVerdicts: true}
	s, err := a.MeasureStaged(path, env, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	bound, readAll = s.For("alice@example.com"), s.IsExact()
	if err := s.Exact(); err != nil {
		t.Fatal(err)
	}
	return bound, s.For("alice@example.com"), readAll
}

// The end of DATA's bound from the header alone is the copy's size plus
// one byte per CRLF of the data (each stored as LF), for every field the
// delivery drops or renames, folded, longer than mailhdr.MaxField, with
// bare CRs and LFs; where the copy's shape changes (mbox line, no empty
// line after the header) the whole copy is measured at once.
func TestStagedSizeBoundIsTheCopyPlusItsCRLFs(t *testing.T) {
	long := strings.Repeat("x", 70<<10)
	for name, msg := range map[string]string{
		"plain":            "Subject: hi\r\n\r\nbody\r\n",
		"ours dropped":     "Authentication-Results: mx.test; spf=pass\r\nSubject: a\r\n\r\nb\r\n",
		"ours folded":      "Authentication-Results:\r\n mx.test;\r\n\tdkim=pass\r\nSubject: a\r\n\r\nb\r\n",
		"theirs kept":      "Authentication-Results: other.example; spf=pass\r\n\r\nb\r\n",
		"verdicts renamed": "X-Spam-Flag: YES\r\nX-Virus-Scanned: yes\r\nx-ebb-scan: clean\r\nSubject: a\r\n\r\nb\r\n",
		"renamed already":  "X-Ebb-Untrusted-X-Spam-Flag: YES\r\n\r\nb\r\n",
		"long dropped":     "Authentication-Results: mx.test; x=" + long + "\r\n\r\nb\r\n",
		"long renamed":     "X-Spam-Report: " + long + "\r\n\tmore\r\nSubject: a\r\n\r\nb\r\n",
		"long kept":        "Comments: " + long + "\r\n\r\nb\r\n",
		"bare CR":          "Subject: a\rb\r\n\r\nbody\r with\r\r\n CR\r",
		"LF only":          "Subject: a\nX-Spam: 1\n\nbody\n",
		"no body":          "Subject: a\r\nX-Spam-Level: ***\r\n",
		"big body":         "X-Spam-Flag: NO\r\n\r\n" + strings.Repeat("a line of the body\r\n", 10000),
	} {
		bound, exact, readAll := stagedSizes(t, []byte(msg))
		if crlfs := int64(strings.Count(msg, "\r\n")); readAll || bound != exact+crlfs {
			t.Errorf("%s: bound %d (whole copy read: %v), copy %d, %d CRLFs", name, bound, readAll, exact, crlfs)
		}
	}
	for name, msg := range map[string]string{
		"mbox line":     "From someone Mon Dec  7 20:00:00 2026\r\nSubject: a\r\n\r\nb\r\n",
		"ended at text": "Subject: a\r\nthis is body\r\nX-Spam: 1\r\n\r\nb\r\n",
		"no header":     "just text\r\n",
	} {
		if bound, exact, readAll := stagedSizes(t, []byte(msg)); !readAll || bound != exact {
			t.Errorf("%s: bound %d (whole copy read: %v), copy %d", name, bound, readAll, exact)
		}
	}
}

func FuzzStagedSize(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\n\r\nbody\r\n",
		"Authentication-Results: mx.test; spf=pass\r\nX-Spam: 1\r\n\r\nb\r\n",
		"From x\r\nX-Virus: 1\r\n",
		"a\r\n b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bound, exact, readAll := stagedSizes(t, data)
		if crlfs := int64(bytes.Count(data, []byte("\r\n"))); !readAll && bound != exact+crlfs {
			t.Errorf("%q: bound %d, copy %d, %d CRLFs", data, bound, exact, crlfs)
		}
	})
}

// The bound decides only what it accepts: a quota between the copy and
// the bound is not refused (the copy is measured then), one below the
// copy is, with the copy's own size in the words.
func TestSizeRefusalMeasuresWhatTheBoundRefuses(t *testing.T) {
	a := &Agent{Cfg: config.Defaults(), Component: "test"}
	a.Cfg.Mail.Root = t.TempDir()
	data := "Subject: x\r\n\r\n" + strings.Repeat("0123456789\r\n", 100) // 100 CRLFs more than the copy
	path := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(path, []byte(data), 0o600)
	measure := func() *StagedSize {
		s, err := a.MeasureStaged(path, Envelope{}, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := measure()
	bound := s.For("alice@example.com")
	copySize := bound - 102
	res := func(q int64) *directory.Resolution {
		return &directory.Resolution{Address: "alice@example.com", Mailboxes: []*directory.Mailbox{{Address: "alice@example.com", Enabled: true, QuotaBytes: q}}}
	}
	if e, _ := SizeRefusal(a.Cfg, res(bound), s, "alice@example.com"); e != nil || s.IsExact() {
		t.Fatalf("a quota of the bound: %v (copy read: %v)", e, s.IsExact())
	}
	if e, _ := SizeRefusal(a.Cfg, res(copySize), s, "alice@example.com"); e != nil || !s.IsExact() || s.For("alice@example.com") != copySize {
		t.Fatalf("a quota of the copy's %d bytes, under the bound: %v (copy read: %v, %d)", copySize, e, s.IsExact(), s.For("alice@example.com"))
	}
	s = measure()
	e, _ := SizeRefusal(a.Cfg, res(copySize-1), s, "alice@example.com")
	if e == nil || e.SMTPCode != 552 || !strings.Contains(e.Error(), "message of "+strconv.FormatInt(copySize, 10)+" bytes") {
		t.Fatalf("a quota one byte under the copy: %v", e)
	}
	// The copy cannot be measured (the spool file is gone after its
	// header was read): not refused, and why is returned, with and
	// without Sieve scripts to ask (the caller says the check was not
	// made).
	s = measure()
	os.Remove(path)
	if e, err := SizeRefusal(a.Cfg, res(copySize-1), s, "alice@example.com"); e != nil || err == nil {
		t.Errorf("unmeasurable copy: refusal %v, unmeasured %v; want none, and why", e, err)
	}
	s = measure2(t, a, data)
	os.Remove(s.path)
	if e, err := SieveRefusal(context.Background(), a.Cfg, res(copySize-1), s, "alice@example.com", &seenFilter{}, t.TempDir()); e != nil || err == nil {
		t.Errorf("unmeasurable copy, Sieve on: refusal %v, unmeasured %v; want none, and why", e, err)
	}
}

// measure2 is the bound of data in a file of its own.
func measure2(t *testing.T, a *Agent, data string) *StagedSize {
	t.Helper()
	path := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(path, []byte(data), 0o600)
	s, err := a.MeasureStaged(path, Envelope{}, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The end of DATA's measure of a 1 KiB and a 64 KiB message: the bound
// from the header against reading the whole copy.
func BenchmarkMeasureStaged(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		data := []byte("From: a@example.org\r\nTo: b@example.test\r\nSubject: bench\r\nX-Spam-Flag: NO\r\n\r\n")
		for len(data) < size {
			data = append(data, "a line of the body of the message, seventy-odd characters long....\r\n"...)
		}
		path := filepath.Join(b.TempDir(), "msg")
		os.WriteFile(path, data, 0o600)
		a := &Agent{}
		env := Envelope{Sender: "s@example.org", StripAuthResults: "mx.test", RenameVerdicts: true}
		for _, m := range []struct {
			name  string
			exact bool
		}{{"read", true}, {"header", false}} {
			b.Run(m.name+"-"+strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
				for b.Loop() {
					s, err := a.MeasureStaged(path, env, int64(len(data)))
					if err == nil && m.exact {
						err = s.Exact()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
