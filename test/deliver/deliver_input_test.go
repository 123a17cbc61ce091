package deliver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// Every size takes the same path and gives the same result, and odd input
// is stored as it came: ebb adds its header lines and changes nothing else
// (except dropping an mbox "From " line, which is envelope, and putting a
// first line that is not a header field below an empty line, as Postfix's
// cleanup does). S= and W= stay exact, nothing is left in tmp/.
func TestDeliverSizesAndOddInput(t *testing.T) {
	t.Parallel()
	const rp = "Return-Path: <bob@example.net>\n"
	crlfMsg := []byte("Subject: crlf\r\nFrom: a@b\r\n\r\nline one\r\nline two\r\n")
	cases := []struct {
		name string
		msg  []byte
		want []byte // nil: rp + msg
	}{
		{"0 bytes", []byte{}, []byte(rp)},
		{"1 byte", []byte("x"), []byte(rp + "\nx")},
		{"8191 bytes", harness.ExactMessage(8191), nil},
		{"8192 bytes", harness.ExactMessage(8192), nil},
		{"8193 bytes", harness.ExactMessage(8193), nil},
		{"1 MiB", harness.ExactMessage(1 << 20), nil},
		{"64 MiB", harness.ExactMessage(64 << 20), nil},
		{"no header/body separator, header only", []byte("Subject: only a header\nFrom: a@b\n"), nil},
		{"no header at all", []byte("just text\nmore text\n"), []byte(rp + "\njust text\nmore text\n")},
		{"bare CR", []byte("Subject: cr\n\nbare\rCR\r here\n"), nil},
		// One line-end style in a Maildir file: CRLF becomes LF, a bare CR stays.
		{"mixed line endings (stored with LF)", []byte("Subject: mixed\r\nFrom: a@b\n\r\nbody\nmore\r\n"),
			[]byte("Return-Path: <bob@example.net>\nSubject: mixed\nFrom: a@b\n\nbody\nmore\n")},
		{"CRLF throughout (stored with LF)", crlfMsg, append([]byte("Return-Path: <bob@example.net>\n"), bytes.ReplaceAll(crlfMsg, []byte("\r\n"), []byte("\n"))...)},
		{"NUL bytes", []byte("Subject: nul\n\nbefore\x00after\x00\n"), nil},
		{"1 MB line", []byte("Subject: long\n\n" + strings.Repeat("y", 1<<20) + "\n"), nil},
		{"1 MB header line", []byte("X-Long: " + strings.Repeat("h", 1<<20) + "\nSubject: long header\n\nbody\n"), nil},
		{"mbox From line", []byte("From bob@example.net Thu Jan  1 00:00:00 2026\nSubject: mbox\n\nbody\n"), []byte(rp + "Subject: mbox\n\nbody\n")},
	}
	m := harness.NewMailEnv(t, "")
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			box := m.Maildir(filepath.Join(m.Root, fmt.Sprintf("box%d", i)))
			r := m.DeliverNoTmp(t, c.msg, "--maildir", box, "-f", "bob@example.net")
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			_, got := onlyMessage(t, box)
			want := c.want
			if want == nil {
				want = append([]byte(rp), c.msg...)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("stored %d bytes, want %d; start %q, want %q", len(got), len(want), prefixOf(got), prefixOf(want))
			}
			os.RemoveAll(box)
		})
	}
}
