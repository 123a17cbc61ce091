package daemon

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// Only mail that starts here leaves signed with a hosted domain's key.
// A message from outside (SMTP on port 25, a fetched one) whose From:
// names a hosted domain is no mail of that domain's users: forwarded to
// another server (an alias, a Sieve redirect), a signature of ours would
// make the forgery pass DKIM and DMARC there. Mail a user submitted, the
// pickup's and ebb's own is signed, and a forward of it too.
func TestOnlyMailFromHereIsSigned(t *testing.T) {
	cfg := config.Defaults()
	dir := t.TempDir()
	cfg.Queue.Spool = filepath.Join(dir, "spool")
	cfg.DKIM.KeyDir = filepath.Join(dir, "dkim")
	cfg.Server.Hostname = "mx.example.test"
	key, err := msgauth.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := msgauth.WriteKey(cfg.DKIM.KeyDir, "example.test", "s1", key, false, nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Open(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	d := &daemon{cfg: cfg, q: q}
	r := &receiver{q: q, log: log}
	sign := d.dkimSign()
	const body = "From: The CEO <ceo@example.test>\r\nTo: someone@remote.example\r\nSubject: pay this invoice\r\n\r\nnow\r\n"
	signed := func(m *queue.Message) bool {
		t.Helper()
		h, _, err := sign(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(h, "DKIM-Signature:") && strings.Contains(h, "d=example.test")
	}
	for _, c := range []struct {
		via  string
		auth string
		want bool
	}{
		{queue.ViaInbound, "", false},
		{queue.ViaFetch, "", false},
		{queue.ViaSubmission, "ceo@example.test", true},
		{queue.ViaSubmissions, "ceo@example.test", true},
		{queue.ViaPickup, "", true},
		{queue.ViaLocal, "", true},
	} {
		env := &queue.Envelope{From: "ceo@example.test", Recipients: []string{"someone@remote.example"}, AuthUser: c.auth}
		id, err := r.Receive(context.Background(), env, strings.NewReader(body), queue.ReceiveOptions{Via: c.via})
		if err != nil {
			t.Fatalf("%q: %v", c.via, err)
		}
		m, _ := q.Lookup(id)
		if got := signed(m); got != c.want {
			t.Errorf("a message received via %q: signed %v, want %v", c.via, got, c.want)
		}
		// A forward of it (an alias leading elsewhere) is a copy of its
		// envelope, queued as ebb's own mail: signed as the original.
		f, err := m.OpenData()
		if err != nil {
			t.Fatal(err)
		}
		fenv := m.Envelope
		fenv.Recipients = []string{"elsewhere@remote.example"}
		fid, err := q.Receive(context.Background(), &fenv, f, queue.ReceiveOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		fm, _ := q.Lookup(fid)
		if got := signed(fm); got != c.want {
			t.Errorf("a forward of a message received via %q: signed %v, want %v", c.via, got, c.want)
		}
	}
}

// What Sieve sends while a message is delivered: a redirect of mail from
// outside stays mail from outside (unsigned), a vacation response to it is
// ours (signed), and a redirect of mail from here is ours too.
func TestSieveRedirectOfMailFromOutsideStaysExternal(t *testing.T) {
	cfg := config.Defaults()
	cfg.Queue.Spool = filepath.Join(t.TempDir(), "spool")
	q, err := queue.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := sieveOutbox{Q: q}
	for _, c := range []struct {
		name               string
		external, redirect bool
		want               bool
	}{
		{"a redirect of mail from outside", true, true, true},
		{"a vacation response to mail from outside", true, false, false},
		{"a redirect of mail from here", false, true, false},
	} {
		ctx := withExternal(context.Background(), &queue.Message{Envelope: queue.Envelope{External: c.external}})
		if c.redirect {
			ctx = sievefilter.Resending(ctx)
		}
		id, err := out.Send(ctx, "", []string{"someone@remote.example"}, strings.NewReader("From: ceo@example.test\r\n\r\nx\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := q.Lookup(id); m == nil || m.Envelope.External != c.want {
			t.Errorf("%s: queued %+v, want External %v", c.name, m, c.want)
		}
	}
}

// Mail of ours whose From: domain has no key leaves unsigned, and says
// so: why (for the recipients' handoffs: ebb explain), a count by reason
// (ebb_dkim_unsigned_total) and a log line. A signed message and mail
// from outside say nothing.
func TestUnsignedMailIsSaid(t *testing.T) {
	cfg := config.Defaults()
	dir := t.TempDir()
	cfg.Queue.Spool = filepath.Join(dir, "spool")
	cfg.DKIM.KeyDir = filepath.Join(dir, "dkim")
	key, err := msgauth.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := msgauth.WriteKey(cfg.DKIM.KeyDir, "example.test", "s1", key, false, nil); err != nil {
		t.Fatal(err)
	}
	var logBuf strings.Builder
	lg, err := logging.New(&logBuf, "logfmt", "info")
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	d := &daemon{cfg: cfg, q: q, log: lg,
		dkimUnsigned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t"}, []string{"reason"})}
	sign := d.dkimSign()
	for _, c := range []struct {
		from     string
		external bool
		why      string // "": nothing said
		reason   string
	}{
		{"ceo@example.test", false, "", ""},
		{"ceo@nokey.example", false, "no DKIM key for nokey.example (nor an organizational domain of it) in " + cfg.DKIM.KeyDir, "no key"},
		{"ceo@nokey.example", true, "", ""},
		{"", false, "no From: domain to sign for", "no author"},
	} {
		body := "To: someone@remote.example\r\nSubject: x\r\n\r\nnow\r\n"
		if c.from != "" {
			body = "From: " + c.from + "\r\n" + body
		}
		env := &queue.Envelope{From: "ceo@example.test", Recipients: []string{"someone@remote.example"}, External: c.external}
		id, err := q.Receive(context.Background(), env, strings.NewReader(body), queue.ReceiveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := q.Lookup(id)
		logBuf.Reset()
		before := counted(d.dkimUnsigned, c.reason)
		h, why, err := sign(context.Background(), m)
		if err != nil || why != c.why || (h != "") != (c.why == "" && !c.external) {
			t.Errorf("From: %q (external %v): header %q, unsigned %q, %v; want unsigned %q", c.from, c.external, h, why, err, c.why)
		}
		if c.why == "" {
			if logBuf.Len() != 0 {
				t.Errorf("From: %q (external %v): logged %q", c.from, c.external, logBuf.String())
			}
			continue
		}
		if n := counted(d.dkimUnsigned, c.reason); n != before+1 {
			t.Errorf("From: %q: ebb_dkim_unsigned_total{reason=%q} %v, want %v", c.from, c.reason, n, before+1)
		}
		if l := logBuf.String(); !strings.Contains(l, "message leaves unsigned: "+c.reason) || !strings.Contains(l, "queue_id="+id) {
			t.Errorf("From: %q: log %q", c.from, l)
		}
	}
}

// counted is the value of cv's counter with label value v.
func counted(cv *prometheus.CounterVec, v string) float64 {
	var m dto.Metric
	cv.WithLabelValues(v).Write(&m)
	return m.GetCounter().GetValue()
}
