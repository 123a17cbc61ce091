package deliver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/resolve"
)

// seenFilter is a dry-run filter that discards for the mailboxes in drop
// and keeps otherwise, and remembers what it was given to read.
type seenFilter struct {
	drop  map[string]bool
	paths []string
	reads [][]byte
}

func (f *seenFilter) Decide(_ context.Context, mb *resolve.Mailbox, msg *Message, _ Envelope) (*Decision, error) {
	b, err := os.ReadFile(msg.Path)
	if err != nil {
		return nil, err
	}
	f.paths = append(f.paths, msg.Path)
	f.reads = append(f.reads, b)
	if int64(len(b)) != msg.Size {
		return nil, os.ErrInvalid
	}
	if f.drop[mb.Address] {
		return &Decision{Discard: true}, nil
	}
	return nil, nil
}

// countOpens counts the opens of the file at path from now on
// (inotify's IN_OPEN, queued as each open(2) returns): how many times
// the message was read.
func countOpens(t *testing.T, path string) (opens func() int) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	// Closes too: inotify merges an event with the unread one before it
	// when they are alike, so opens alone would count as one.
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_OPEN|unix.IN_CLOSE); err != nil {
		t.Fatal(err)
	}
	n := 0
	return func() int {
		buf := make([]byte, 64*unix.SizeofInotifyEvent)
		for {
			k, err := unix.Read(fd, buf)
			if err == unix.EAGAIN {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off+unix.SizeofInotifyEvent <= k; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if ev.Mask&unix.IN_OPEN != 0 {
					n++
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

// Where the bound refuses, the quota refusal's Sieve dry run stages the
// copy once per recipient and measures it while staging: the message is
// read once (not once to measure and again to stage), every mailbox's
// script reads the same staged copy, which is what the delivery's View
// writes, and nothing is left in the staging directory. A copy whose
// exact size fits is not refused and no script runs; a staging
// directory that cannot be written still measures the copy (the refusal
// stands where the scripts could not be asked).
func TestSieveRefusalReadsTheMessageOnce(t *testing.T) {
	a, _ := newAgent(t)
	body := "Subject: big\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 30)
	env := Envelope{Sender: "s@example.org", Prefix: []byte("Received: from x\r\n\tby mx.test; Mon, 7 Dec 2026 20:00:00 +0000\r\n")}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	const rcpt = "team@example.com"
	var copy bytes.Buffer
	renv := env
	renv.Recipient = rcpt
	if _, _, err := a.View(&copy, plain, renv); err != nil {
		t.Fatal(err)
	}
	ref, err := a.MeasureStaged(plain, env, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	bound, exact := ref.For(rcpt), int64(copy.Len())
	if bound <= exact {
		t.Fatalf("bound %d not above the copy's %d bytes", bound, exact)
	}
	res := func(q int64) *resolve.Resolution {
		return &resolve.Resolution{Address: rcpt, Mailboxes: []*directory.Mailbox{
			{Address: "alice@example.com", Enabled: true, QuotaBytes: q},
			{Address: "bob@example.com", Enabled: true, QuotaBytes: q},
		}}
	}
	for _, tc := range []struct {
		name    string
		quota   int64
		drop    map[string]bool
		noDir   bool
		refused bool
		decides int
	}{
		{"both keep", exact - 1, nil, false, true, 1},
		{"alice discards, bob keeps", exact - 1, map[string]bool{"alice@example.com": true}, false, true, 2},
		{"both discard", exact - 1, map[string]bool{"alice@example.com": true, "bob@example.com": true}, false, false, 2},
		{"the copy fits, the bound does not", exact, nil, false, false, 0},
		{"no staging directory", exact - 1, map[string]bool{"alice@example.com": true, "bob@example.com": true}, true, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spool := filepath.Join(dir, "spool")
			if err := os.WriteFile(spool, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			reads := countOpens(t, spool)
			stage := filepath.Join(dir, "data")
			if !tc.noDir {
				os.Mkdir(stage, 0o700)
			}
			s := &StagedSize{a: a, path: spool, env: ref.env, body: ref.body} // the bound, measured from the plain file
			f := &seenFilter{drop: tc.drop}
			e, unconsulted := SieveRefusal(context.Background(), a.Cfg, res(tc.quota), s, rcpt, f, stage)
			if (e != nil) != tc.refused || (e != nil && e.SMTPCode != 552) {
				t.Fatalf("refusal %v, want refused %v", e, tc.refused)
			}
			// Scripts that could not be run: the refusal stands and says so.
			if (unconsulted != nil) != tc.noDir || tc.noDir && !strings.Contains(e.Reason, "the Sieve scripts of alice@example.com could not be run on the message") {
				t.Errorf("scripts not run %v: unconsulted %v, reason %q", tc.noDir, unconsulted, e.Reason)
			}
			if !s.IsExact() || s.For(rcpt) != exact {
				t.Errorf("measured %d bytes (exact %v), the copy is %d", s.For(rcpt), s.IsExact(), exact)
			}
			if n := reads(); n != 1 {
				t.Errorf("the message was read %d times, want once", n)
			}
			if len(f.reads) != tc.decides {
				t.Fatalf("%d scripts ran, want %d", len(f.reads), tc.decides)
			}
			for i, b := range f.reads {
				if !bytes.Equal(b, copy.Bytes()) {
					t.Errorf("script %d read %q, not the delivery's copy", i, b)
				}
				if f.paths[i] != f.paths[0] {
					t.Errorf("the copy was staged again for the second mailbox: %s, %s", f.paths[0], f.paths[i])
				}
			}
			if ents, _ := os.ReadDir(stage); len(ents) != 0 {
				t.Errorf("left in the staging directory: %v", ents)
			}
		})
	}
}

// editFilter is a dry-run filter that keeps the message with its header
// replaced by fields (Sieve editheader).
type editFilter struct{ fields []string }

func (f editFilter) Decide(context.Context, *resolve.Mailbox, *Message, Envelope) (*Decision, error) {
	return &Decision{Header: f.fields}, nil
}

// A mailbox whose scripts edit the header stores the edited copy: the
// quota refusal's dry run judges that copy's size, not the staged one's,
// so that the refusal at the quota's edge is the delivery's answer.
func TestSieveRefusalMeasuresTheEditedHeader(t *testing.T) {
	a, _ := newAgent(t)
	body := "Subject: big\r\nX-Long: " + strings.Repeat("x", 300) + "\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 30)
	env := Envelope{Sender: "s@example.org", Prefix: []byte("Received: from x\r\n\tby mx.test; Mon, 7 Dec 2026 20:00:00 +0000\r\n")}
	const rcpt = "alice@example.com"
	renv := env
	renv.Recipient = rcpt
	var copy bytes.Buffer
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.WriteFile(spool, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.View(&copy, spool, renv); err != nil {
		t.Fatal(err)
	}
	staged := int64(copy.Len())
	cut := bytes.Index(copy.Bytes(), []byte("\n\n"))
	if cut < 0 {
		t.Fatalf("no header end in the copy %q", copy.Bytes())
	}
	rest := int64(copy.Len() - cut - 2)
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"the edit shrinks the copy", []string{"Subject: small"}},
		{"the edit grows the copy", []string{"Subject: big", "X-Long: " + strings.Repeat("y", 600), "X-Folded: a\r\n\tb"}},
	} {
		edited := rest + 1 // the empty line
		for _, f := range tc.fields {
			edited += int64(len(strings.ReplaceAll(f, "\r\n", "\n"))) + 1
		}
		for _, quota := range []int64{edited - 1, edited, staged - 1} {
			if quota >= staged {
				continue // the unedited copy fits: no script runs (the documented bound)
			}
			t.Run(tc.name, func(t *testing.T) {
				res := &resolve.Resolution{Address: rcpt, Mailboxes: []*directory.Mailbox{{Address: rcpt, Enabled: true, QuotaBytes: quota}}}
				s, err := a.MeasureStaged(spool, env, int64(len(body)))
				if err != nil {
					t.Fatal(err)
				}
				e, unconsulted := SieveRefusal(context.Background(), a.Cfg, res, s, rcpt, editFilter{tc.fields}, t.TempDir())
				if unconsulted != nil {
					t.Fatal(unconsulted)
				}
				if want := edited > quota; (e != nil) != want {
					t.Errorf("quota %d, staged copy %d bytes, edited %d: refused %v, want %v", quota, staged, edited, e != nil, want)
				}
			})
		}
	}
}
