package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// A check reads the whole data from the message file (which holds the data
// alone while the check runs), and when it refuses, the file is closed and
// removed and nothing is left in the spool, in either sync mode; an
// accepted message's file has the data, then the envelope with the
// check's header.
func TestCheckSeesTheDataAndARefusalLeavesNothing(t *testing.T) {
	for _, mode := range []string{"filesystem", "files"} {
		t.Run("sync="+mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Queue.Sync = mode
			q := openQueue(t, cfg)
			body := "Subject: check\r\n\r\n" + strings.Repeat("y", 200<<10) + "\r\n"
			refuse := errors.New("refused by the check")
			var seen int
			env := &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}
			opt := ReceiveOptions{Check: func(ctx context.Context, m *Message) (string, error) {
				b, err := os.ReadFile(m.File)
				if err != nil {
					return "", err
				}
				seen = len(b)
				return "", refuse
			}}
			if _, err := q.Receive(context.Background(), env, strings.NewReader(body), opt); !errors.Is(err, refuse) {
				t.Fatalf("Receive: %v, want the check's refusal", err)
			}
			if seen != len(body) {
				t.Fatalf("the check read %d bytes of %d", seen, len(body))
			}
			if files := spoolFiles(t, q); len(files) != 0 {
				t.Fatalf("left in the spool after a refusal: %v", files)
			}
			// An accepted message after it is whole on disk.
			opt.Check = func(ctx context.Context, m *Message) (string, error) { return "X-Checked: yes\n", nil }
			id, err := q.Receive(context.Background(), env, strings.NewReader(body), opt)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ReadMessage(q.spool, id)
			if err != nil {
				t.Fatal(err)
			}
			f, err := m.OpenData()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil || string(b) != body || m.Envelope.Prefix != "X-Checked: yes\n" {
				t.Fatalf("data of %s: %d bytes, %v; prefix %q", id, len(b), err, m.Envelope.Prefix)
			}
			if files := spoolFiles(t, q); len(files) != 1 {
				t.Fatalf("spool after one accepted message: %v", files)
			}
		})
	}
}
