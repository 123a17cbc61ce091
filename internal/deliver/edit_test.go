package deliver

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Sieve editheader (RFC 5293): the copy stored for a mailbox carries the
// header the filter edited, with the body read back from the staged file.
func TestEditedHeaderIsStored(t *testing.T) {
	for _, tc := range []struct {
		name, msg, want string
		header          []string
	}{
		{"lf", "From: a@example.net\nSubject: old\n\nbody\nline 2\n",
			"X-Added: yes\nFrom: a@example.net\n\nbody\nline 2\n",
			[]string{"X-Added: yes", "From: a@example.net"}},
		{"crlf", "Subject: old\r\nX-Folded: a\r\n b\r\n\r\nbody\r\n",
			"X-Folded: a\n b\n\nbody\n",
			[]string{"X-Folded: a\r\n b"}},
		{"no empty line before the body", "Subject: old\nnot a header\n",
			"Subject: new\n\nnot a header\n",
			[]string{"Subject: new"}},
		{"long header line", "X-Long: " + strings.Repeat("x", 200<<10) + "\n\nbody\n",
			"X-Short: 1\n\nbody\n",
			[]string{"X-Short: 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, root := newAgent(t)
			a.Filter = &filter{d: &Decision{Header: tc.header, Stores: []Store{{Folder: "INBOX"}, {Folder: "Copy"}}}}
			if _, err := a.Deliver(context.Background(), strings.NewReader(tc.msg), Envelope{Recipient: "alice@example.com", OmitReturnPath: true}); err != nil {
				t.Fatal(err)
			}
			box := filepath.Join(root, "example.com", "alice", "Maildir")
			files := append(newFiles(t, box), newFiles(t, filepath.Join(box, ".Copy"))...)
			if len(files) != 2 {
				t.Fatalf("stored %v", files)
			}
			got, _ := os.ReadFile(files[0])
			if string(got) != tc.want {
				t.Errorf("stored %q\nwant   %q", got, tc.want)
			}
			if !strings.Contains(files[0], ",S="+strconv.Itoa(len(tc.want))+",") {
				t.Errorf("name %s lacks the exact size %d", files[0], len(tc.want))
			}
			a1, _ := os.Stat(files[0])
			a2, _ := os.Stat(files[1])
			if !os.SameFile(a1, a2) {
				t.Error("the two stores of the edited copy are not one file")
			}
			tmp, _ := os.ReadDir(filepath.Join(box, "tmp"))
			if len(tmp) != 0 {
				t.Errorf("tmp/ not emptied: %v", tmp)
			}
		})
	}
}
