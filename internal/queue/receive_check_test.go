package queue

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// A check runs while the data file's fsync may still be under way (sync =
// files): it reads the whole data, and when it refuses, the data file is
// closed and removed and nothing is left in the spool, in either mode.
func TestCheckSeesTheDataAndARefusalLeavesNothing(t *testing.T) {
	for _, mode := range []string{"filesystem", "files"} {
		t.Run("sync="+mode, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Queue.Sync = mode
			q := openQueue(t, cfg)
			body := "Subject: check\r\n\r\n" + strings.Repeat("y", 200<<10) + "\r\n"
			refuse := errors.New("refused by the check")
			var seen int
			env := &Envelope{From: "a@example.org", Recipients: []string{"b@example.test"},
				Check: func(ctx context.Context, m *Message) (string, error) {
					b, err := os.ReadFile(m.DataPath)
					if err != nil {
						return "", err
					}
					seen = len(b)
					return "", refuse
				}}
			if _, err := q.Receive(context.Background(), env, strings.NewReader(body)); !errors.Is(err, refuse) {
				t.Fatalf("Receive: %v, want the check's refusal", err)
			}
			if seen != len(body) {
				t.Fatalf("the check read %d bytes of %d", seen, len(body))
			}
			if files := spoolFiles(t, q); len(files) != 0 {
				t.Fatalf("left in the spool after a refusal: %v", files)
			}
			// An accepted message after it is whole on disk.
			env.Check = func(ctx context.Context, m *Message) (string, error) { return "X-Checked: yes\n", nil }
			id, err := q.Receive(context.Background(), env, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(q.dataPath(id))
			if err != nil || len(b) != len(body) {
				t.Fatalf("data file of %s: %d bytes, %v", id, len(b), err)
			}
			if files := spoolFiles(t, q); len(files) != 2 {
				t.Fatalf("spool after one accepted message: %v", files)
			}
		})
	}
}
