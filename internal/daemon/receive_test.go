package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
)

// seenCheck records what it was given and adds one header line, or
// refuses.
type seenCheck struct {
	n      string
	seen   *[]string
	refuse bool
}

func (c seenCheck) name() string { return c.n }

func (c seenCheck) check(ctx context.Context, in *checkInput) (string, error) {
	*c.seen = append(*c.seen, fmt.Sprintf("%s kind=%q tls=%v size=%d", c.n, in.Kind, in.TLS, in.Msg.Size))
	if c.refuse {
		e := diag.New("scan", "accept the message", "", errors.New("found a virus"))
		e.Class = diag.Permanent
		return "", e
	}
	return "X-" + c.n + ": ok\r\n", nil
}

// The one hand-off judges a message by how it came: SMTP mail by the SMTP
// checks (with the listener's kind and TLS), fetched mail by fetch's, the
// pickup's and ebb's own by none; the checks' lines go above the prefix
// (PrefixFor's, made from the queue id), and nothing of the options is
// stored with the envelope.
func TestReceiverChecksByWayOfArrival(t *testing.T) {
	cfg := config.Defaults()
	cfg.Queue.Spool = filepath.Join(t.TempDir(), "spool")
	cfg.Server.Hostname = "mx.example.test"
	q, err := queue.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var seen []string
	r := &receiver{q: q, smtp: []checker{seenCheck{n: "smtp", seen: &seen}}, fetch: []checker{seenCheck{n: "fetch", seen: &seen}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	const body = "From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n"
	cases := []struct {
		via        string
		tls        bool
		seen       string // "" for no check
		prefixLine string
	}{
		{queue.ViaInbound, false, `smtp kind="inbound" tls=false`, "X-smtp: ok\r\n"},
		{queue.ViaSubmission, true, `smtp kind="submission" tls=true`, "X-smtp: ok\r\n"},
		{queue.ViaSubmissions, true, `smtp kind="submissions" tls=true`, "X-smtp: ok\r\n"},
		{queue.ViaFetch, true, `fetch kind="" tls=true`, "X-fetch: ok\r\n"},
		{queue.ViaPickup, false, "", ""},
		{queue.ViaLocal, false, "", ""},
	}
	for _, c := range cases {
		seen = nil
		env := &queue.Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}}
		id, err := r.Receive(context.Background(), env, strings.NewReader(body), queue.ReceiveOptions{Via: c.via, TLS: c.tls,
			PrefixFor: func(id string) string { return "Received: by mx.example.test id " + id + "\r\n" }})
		if err != nil {
			t.Fatalf("%q: %v", c.via, err)
		}
		want := []string(nil)
		if c.seen != "" {
			want = []string{fmt.Sprintf("%s size=%d", c.seen, len(body))}
		}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("%q: checks saw %q, want %q", c.via, seen, want)
		}
		m, ok := q.Lookup(id)
		if !ok {
			t.Fatalf("%q: %s not in the queue", c.via, id)
		}
		if p := c.prefixLine + "Received: by mx.example.test id " + id + "\r\n"; m.Envelope.Prefix != p {
			t.Errorf("%q: prefix %q, want %q", c.via, m.Envelope.Prefix, p)
		}
	}

	// A receiver's own check runs after the daemon's, its lines below theirs.
	id, err := r.Receive(context.Background(), &queue.Envelope{From: "a@example.org", Recipients: []string{"b@example.test"}},
		strings.NewReader(body), queue.ReceiveOptions{Via: queue.ViaInbound,
			Check: func(ctx context.Context, m *queue.Message) (string, error) { return "X-own: yes\r\n", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := q.Lookup(id); m == nil || m.Envelope.Prefix != "X-smtp: ok\r\nX-own: yes\r\n" {
		t.Fatalf("with a receiver's own check: %+v", m)
	}

	// A refusal by a check is the receiver's answer, and nothing is queued.
	r.fetch = []checker{seenCheck{n: "fetch", seen: &seen, refuse: true}}
	before := q.Stats().Received
	_, err = r.Receive(context.Background(), &queue.Envelope{From: "", Recipients: []string{"b@example.test"}},
		strings.NewReader(body), queue.ReceiveOptions{Via: queue.ViaFetch})
	var de *diag.Error
	if !errors.As(err, &de) || de.Class != diag.Permanent {
		t.Fatalf("a refusing check: %v", err)
	}
	if n := q.Stats().Received; n != before {
		t.Fatalf("queued after a refusal: %d received, before %d", n, before)
	}
	if files, _ := filepath.Glob(filepath.Join(cfg.Queue.Spool, "*", "*")); len(files) != len(cases)+1 {
		t.Fatalf("the spool holds %d files after %d messages and a refusal: %v", len(files), len(cases)+1, files)
	}
}
