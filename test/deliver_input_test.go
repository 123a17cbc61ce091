package test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/test/harness"
)

// deliverNoTmp runs ebb deliver as the test user in a private mount
// namespace whose /tmp is a root-owned 0755 tmpfs: the user cannot create
// anything there (the maildrop story), and TMPDIR points nowhere. Every
// delivery below succeeding proves ebb never uses /tmp or $TMPDIR, for any
// size. The message arrives through a pipe, as from an MTA.
func (m *mailEnv) deliverNoTmp(t *testing.T, msg []byte, args ...string) harness.Result {
	t.Helper()
	bin := filepath.Join(m.Dir, "ebb")
	if _, err := os.Stat(bin); err != nil {
		copyExecutable(t, m.ebb, bin)
	}
	script := `set -e
mount --bind "$KEEP" /mnt
mount -t tmpfs -o mode=0755,size=1m ebb-no-tmp /tmp
mkdir -p "$KEEP"
mount --bind /mnt "$KEEP"
if setpriv --reuid="$U" --regid="$G" --clear-groups touch /tmp/probe 2>/dev/null; then echo "/tmp is writable" >&2; exit 99; fi
exec setpriv --reuid="$U" --regid="$G" --clear-groups env TMPDIR=/nonexistent "$@"`
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", bin, "deliver", "-c", m.Conf}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KEEP=" + m.Dir,
		fmt.Sprintf("U=%d", m.User.UID), fmt.Sprintf("G=%d", m.User.GID)}
	return harness.Run(t, cmd, msg)
}

func copyExecutable(t *testing.T, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
}

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
		{"8191 bytes", exactMessage(8191), nil},
		{"8192 bytes", exactMessage(8192), nil},
		{"8193 bytes", exactMessage(8193), nil},
		{"1 MiB", exactMessage(1 << 20), nil},
		{"64 MiB", exactMessage(64 << 20), nil},
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
	m := newMailEnv(t, "")
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			box := m.maildir(filepath.Join(m.Root, fmt.Sprintf("box%d", i)))
			r := m.deliverNoTmp(t, c.msg, "--maildir", box, "-f", "bob@example.net")
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
