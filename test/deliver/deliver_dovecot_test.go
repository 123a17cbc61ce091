package deliver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// A real reader: Dovecot serves the Maildirs ebb deliver wrote, and IMAP
// FETCH returns every message byte for byte (line endings aside: IMAP
// speaks CRLF) with RFC822.SIZE equal to the ,W= ebb put in the name — in
// INBOX and in folders, including a non-ASCII one.
func TestDeliverDovecotReads(t *testing.T) {
	t.Parallel()
	m := harness.NewMailEnv(t, "")
	m.AddMailboxes("example.com", []string{"alice"}, nil)
	type sent struct {
		folder string // IMAP name
		args   []string
		msg    []byte
	}
	marker := func(i int) string { return fmt.Sprintf("dovecot-%d", i) }
	msgs := []sent{
		{"INBOX", nil, []byte("Subject: " + marker(0) + "\nFrom: a@example.net\n\nshort LF body\n")},
		{"INBOX", nil, []byte("Subject: " + marker(1) + "\r\nFrom: a@example.net\r\n\r\nCRLF body\r\n")},
		{"INBOX", nil, append([]byte("Subject: "+marker(2)+"\n\n"), harness.ExactMessage(1<<20)...)},
		{"INBOX", nil, []byte("Subject: " + marker(3) + "\n\nmixed\r\nline\nends\r\n")},
		{"INBOX", nil, []byte("Subject: " + marker(4) + "\n\n" + strings.Repeat("z", 8193) + "\n")},
		{"INBOX", nil, []byte("Subject: " + marker(5) + "\nX-No-Body: true\n")},
		{"INBOX", nil, []byte("Subject: " + marker(6) + "\n\nbare\rCR\n")},
		{"INBOX", nil, []byte("Subject: " + marker(7) + "\n\nNUL\x00byte\n")},
		{"Work", []string{"-m", "Work"}, []byte("Subject: " + marker(8) + "\n\nfiled into Work\n")},
		{"Work.Reports", []string{"-m", "Work/Reports"}, []byte("Subject: " + marker(9) + "\n\nfiled deeper\n")},
		{"Entw&APw-rfe", []string{"-m", "Entwürfe"}, []byte("Subject: " + marker(10) + "\n\nnon-ASCII folder\n")},
	}
	box := m.BoxOf("alice", "example.com")
	stored := map[string][]byte{} // marker -> file bytes
	wsize := map[string]int{}
	for i, s := range msgs {
		r := m.Deliver(s.msg, append([]string{"-d", "alice@example.com", "-f", "bob@example.net"}, s.args...)...)
		if r.Code != 0 {
			t.Fatalf("deliver %d: exit %d %s", i, r.Code, r.Stderr)
		}
		// Find the file just written.
		dir := box
		if s.folder != "INBOX" {
			dir = filepath.Join(box, "."+s.folder)
		}
		for _, f := range harness.MaildirFiles(t, dir, "new") {
			data, _ := os.ReadFile(f)
			if bytes.Contains(data, []byte(marker(i)+"\n")) || bytes.Contains(data, []byte(marker(i)+"\r\n")) {
				stored[marker(i)] = data
				wsize[marker(i)] = wFromName(t, f)
			}
		}
		if stored[marker(i)] == nil {
			t.Fatalf("message %d not found in %s/new", i, dir)
		}
	}

	u := m.User
	dc := harness.StartDovecot(t, u, []harness.DovecotUser{
		{Name: "alice@example.com", Password: "secret", Home: filepath.Dir(box)}})
	c := harness.DialIMAP(t, dc.Addr, "alice@example.com", "secret")
	seen := 0
	for _, folder := range []string{"INBOX", "Work", "Work.Reports", "Entw&APw-rfe"} {
		got, err := c.FetchAll(folder)
		if err != nil {
			t.Fatalf("%s: %v\n%s", folder, err, dc.Log())
		}
		want := 0
		for _, s := range msgs {
			if s.folder == folder {
				want++
			}
		}
		if len(got) != want {
			t.Errorf("%s: %d messages, want %d", folder, len(got), want)
		}
		for _, f := range got {
			mk := subjectRE.FindSubmatch(f.Body)
			if mk == nil {
				t.Errorf("%s #%d: no Subject in %q", folder, f.Seq, prefixOf(f.Body))
				continue
			}
			key := string(mk[1])
			file := stored[key]
			// IMAP literals may not carry NUL (RFC 3501 §4.3): Dovecot
			// sends 0x80 in its place; the stored file keeps the NUL.
			if !bytes.Equal(crlfToLF(f.Body), bytes.ReplaceAll(crlfToLF(file), []byte{0}, []byte{0x80})) {
				t.Errorf("%s %s: FETCH BODY[] differs from the delivered file (%d vs %d bytes)", folder, key, len(f.Body), len(file))
			}
			if f.Size != len(f.Body) || f.Size != wsize[key] {
				t.Errorf("%s %s: RFC822.SIZE %d, BODY[] %d bytes, W= %d: all three must agree", folder, key, f.Size, len(f.Body), wsize[key])
			}
			seen++
		}
	}
	if seen != len(msgs) {
		t.Errorf("Dovecot returned %d of %d messages", seen, len(msgs))
	}
	if strings.Contains(dc.Log(), "Error") {
		t.Errorf("Dovecot logged errors:\n%s", dc.Log())
	}
}

var subjectRE = regexp.MustCompile(`Subject: (dovecot-\d+)\r?\n`)

func crlfToLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

func wFromName(t *testing.T, path string) int {
	mm := sizeRE.FindStringSubmatch(filepath.Base(path))
	if mm == nil {
		t.Fatalf("no W= in %s", path)
	}
	n, _ := strconv.Atoi(mm[2])
	return n
}
