package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/dnstest"
	"github.com/ebbmail/ebb/internal/mtasts"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/servetest"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// env is a relay with a test DNS.
type env struct {
	t   *testing.T
	dns *dnstest.Server
	cfg *config.Config
	dir string
}

func newEnv(t *testing.T, port int, conf string) *env {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dir := t.TempDir()
	text := fmt.Sprintf("[dns]\nresolver = %q\ntimeout = \"1s\"\n[relay]\nport = %d\nhelo_name = \"out.test\"\nconnect_timeout = \"2s\"\ngreeting_timeout = \"2s\"\n%s\n", s.Addr(), port, conf)
	cfg, err := config.Parse(filepath.Join(dir, "ebb.toml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dns: s, cfg: cfg, dir: dir}
}

func (e *env) relay(o Options) *Relay {
	e.t.Helper()
	o.Resolver = dnsresolve.New(e.cfg)
	r, err := New(e.cfg, o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(r.Close)
	return r
}

var msgN atomic.Int32

// message writes a spool-like message file and returns its queue message.
// As in the spool, the data is followed by more (the envelope there, here
// 8-bit text that must never be sent nor read as the message's).
func (e *env) message(from string, body string, rcpts ...string) *queue.Message {
	n := msgN.Add(1)
	id := fmt.Sprintf("TESTMSG%04d", n)
	p := filepath.Join(e.dir, id+".q")
	if err := os.WriteFile(p, []byte(body+"{\"envelope\": \"not the data: \u00fc\"}\n#ebbq1\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	m := &queue.Message{ID: id, Envelope: queue.Envelope{From: from, Recipients: rcpts, Prefix: "Received: by test\r\n"},
		Size: int64(len(body)), Arrived: time.Now(), File: p}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, &queue.Recipient{Address: r, State: queue.Pending})
	}
	return m
}

const body = "Subject: hi\r\n\r\nhello\r\n.leading dot\r\n"

func deliver(t *testing.T, r *Relay, m *queue.Message, i int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return r.Deliver(ctx, m, m.Recipients[i])
}

func mustDiag(t *testing.T, err error) *diag.Error {
	t.Helper()
	d, ok := diag.As(err)
	if !ok {
		t.Fatalf("want a diag error, got %T %v", err, err)
	}
	return d
}

// A message reaches the MX over STARTTLS; the next ones reuse the
// session; the data arrives as sent, prefix first, dot-stuffing undone.
func TestDeliverByMXWithTLSAndReuse(t *testing.T) {
	ca := servetest.NewCA(t)
	port := freePortOn(t, "127.0.0.2")
	srv := startServer(t, fmt.Sprintf("127.0.0.2:%d", port), ca.Leaf(t, "mx.example.net"), nil)
	e := newEnv(t, port, fmt.Sprintf("tls = \"verify\"\ntls_ca_file = %q\n", ca.File(t, t.TempDir())))
	e.dns.MustAdd("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
	var signs atomic.Int32
	unsignedID := "" // a message whose From: domain has no key
	r := e.relay(Options{Sign: func(ctx context.Context, m *queue.Message) (string, string, error) {
		signs.Add(1)
		if m.ID == unsignedID {
			return "", "no DKIM key for ours.test", nil
		}
		return "DKIM-Signature: test\r\n", "", nil
	}})
	m := e.message("alice@ours.test", body, "bob@example.net", "carol@example.net")
	for i := range m.Recipients {
		if err := deliver(t, r, m, i); err != nil {
			t.Fatal(err)
		}
		if h := m.Recipients[i].Relay; h == nil || h.Host != "mx.example.net" || h.IP != "127.0.0.2" || !h.DSN || h.Unsigned != "" {
			t.Errorf("handoff %+v", h)
		}
	}
	m2 := e.message("alice@ours.test", body, "dave@example.net")
	unsignedID = m2.ID
	if err := deliver(t, r, m2, 0); err != nil {
		t.Fatal(err)
	}
	// Unsigned: said in the recipient's handoff, which the journal tells.
	if h := m2.Recipients[0].Relay; h == nil || h.Unsigned != "no DKIM key for ours.test" ||
		!strings.Contains(h.Summary(), "; not DKIM-signed: no DKIM key for ours.test") {
		t.Errorf("unsigned message's handoff %+v (%q)", h, h.Summary())
	}
	got := srv.got()
	if len(got) != 3 {
		t.Fatalf("received %d, want 3", len(got))
	}
	want := "DKIM-Signature: test\r\nReceived: by test\r\n" + body
	for i, g := range got {
		if i == 2 {
			want = "Received: by test\r\n" + body
		}
		if !g.TLS {
			t.Error("not over TLS")
		}
		if g.Data != want {
			t.Errorf("data %q, want %q", g.Data, want)
		}
		if g.From != "alice@ours.test" {
			t.Errorf("from %q", g.From)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 messages, want 1 (reuse)", n)
	}
	if n := signs.Load(); n != 2 {
		t.Errorf("Sign called %d times for 2 messages, want 2", n)
	}
}

// Each remote reply ends in the right class, with the remote's words,
// the step, host and IP in diag.Remote, and groups in mailq by them.
func TestRemoteReplies(t *testing.T) {
	cases := []struct {
		name      string
		set       func(*testServer)
		step      string
		code      int
		enhanced  string
		permanent bool
	}{
		{"greylisted at RCPT", func(s *testServer) {
			s.FailRcpt = &smtpd.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Message: "greylisted, try again"}
		}, "rcpt", 451, "4.7.1", false},
		{"unknown user at RCPT", func(s *testServer) {
			s.FailRcpt = &smtpd.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"}
		}, "rcpt", 550, "5.1.1", true},
		{"sender refused at MAIL", func(s *testServer) {
			s.FailMail = &smtpd.Reply{Code: 553, Enhanced: [3]int{5, 7, 1}, Message: "sender blocked"}
		}, "mail", 553, "5.7.1", true},
		{"content refused at end of data", func(s *testServer) {
			s.FailData = &smtpd.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "spam"}
		}, "end-of-data", 554, "5.7.1", true},
		{"busy at end of data", func(s *testServer) {
			s.FailData = &smtpd.Reply{Code: 452, Enhanced: [3]int{4, 3, 1}, Message: "out of space"}
		}, "end-of-data", 452, "4.3.1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2:0", nil, nil)
			_, p, _ := strings.Cut(srv.Addr, ":")
			var port int
			fmt.Sscan(p, &port)
			tc.set(srv)
			e := newEnv(t, port, "")
			e.dns.MustAdd("example.net. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2")
			r := e.relay(Options{})
			m := e.message("alice@ours.test", body, "bob@example.net")
			d := mustDiag(t, deliver(t, r, m, 0))
			if d.Temporary() == tc.permanent {
				t.Errorf("class %s, want permanent=%v", d.Class, tc.permanent)
			}
			rm := d.Remote
			if rm == nil || rm.Step != tc.step || rm.Code != tc.code || rm.Enhanced != tc.enhanced || rm.Host != "mx.example.net" || rm.IP != "127.0.0.2" {
				t.Fatalf("remote %+v", rm)
			}
			if d.SMTPCode != tc.code {
				t.Errorf("smtp code %d", d.SMTPCode)
			}
			if !strings.Contains(d.Sentence(), "mx.example.net[127.0.0.2] said at") || d.Hint == "" {
				t.Errorf("sentence %q", d.Sentence())
			}
			g := queue.GeneralReason(d, "bob@example.net")
			if !strings.HasPrefix(g, fmt.Sprintf("mx.example.net[127.0.0.2] %d %s ", tc.code, tc.enhanced)) {
				t.Errorf("general reason %q", g)
			}
			// The session stays usable after a failed transaction.
			if tc.permanent && tc.step != "end-of-data" {
				srv.FailMail, srv.FailRcpt = nil, nil
				if err := deliver(t, r, e.message("alice@ours.test", body, "bob@example.net"), 0); err != nil {
					t.Fatalf("after the failure: %v", err)
				}
				if n := srv.conns.Load(); n != 1 {
					t.Errorf("%d connections, want 1", n)
				}
			}
		})
	}
}

// RFC 5321 §5.1: the lowest preference first; a host that is down is
// skipped for the next one.
func TestMXPreferenceAndFallback(t *testing.T) {
	port := freePortOn(t, "127.0.0.2", "127.0.0.3")
	srv := startServer(t, fmt.Sprintf("127.0.0.3:%d", port), nil, nil)
	e := newEnv(t, port, "")
	e.dns.MustAdd("example.net. 300 IN MX 20 mx2.example.net.", "example.net. 300 IN MX 10 mx1.example.net.",
		"mx1.example.net. 300 IN A 127.0.0.2", "mx2.example.net. 300 IN A 127.0.0.3",
		"implicit.example. 300 IN A 127.0.0.3")
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "bob@example.net", "eve@implicit.example")
	if err := deliver(t, r, m, 0); err != nil {
		t.Fatal(err)
	}
	if h := m.Recipients[0].Relay; h.Host != "mx2.example.net" {
		t.Errorf("via %+v", h)
	}
	// No MX: the domain's own address (implicit MX).
	if err := deliver(t, r, m, 1); err != nil {
		t.Fatal(err)
	}
	if len(srv.got()) != 2 {
		t.Errorf("received %d", len(srv.got()))
	}
}

// lookupMX orders by preference and shuffles equal ones.
func TestLookupMXOrder(t *testing.T) {
	e := newEnv(t, 25, "")
	e.dns.MustAdd("example.net. 300 IN MX 10 a.example.net.", "example.net. 300 IN MX 10 b.example.net.",
		"example.net. 300 IN MX 5 first.example.net.", "example.net. 300 IN MX 50 last.example.net.")
	seen := map[string]bool{}
	for i := 0; i < 40; i++ {
		hs, err := lookupMX(context.Background(), dnsresolve.New(e.cfg), "example.net", 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 4 || hs[0].Name != "first.example.net" || hs[3].Name != "last.example.net" {
			t.Fatalf("order %+v", hs)
		}
		seen[hs[1].Name] = true
	}
	if !seen["a.example.net"] || !seen["b.example.net"] {
		t.Errorf("equal preferences not shuffled: %v", seen)
	}
}

// A null MX fails permanently with 5.1.10 and no connection; a SERVFAIL
// defers at the DNS step; NXDOMAIN fails with 5.1.2.
func TestDNSOutcomes(t *testing.T) {
	srv := startServer(t, "127.0.0.2:0", nil, nil)
	e := newEnv(t, 25, "")
	e.dns.MustAdd("nullmx.example. 300 IN MX 0 .")
	e.dns.ServFail("broken.example.", true)
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "a@nullmx.example", "b@broken.example", "c@nowhere.example")
	d := mustDiag(t, deliver(t, r, m, 0))
	if d.Temporary() || d.Enhanced != [3]int{5, 1, 10} || !strings.Contains(d.Reason, "null MX") {
		t.Errorf("null MX: %v %v", d.Enhanced, d.Sentence())
	}
	d = mustDiag(t, deliver(t, r, m, 1))
	if !d.Temporary() || d.Remote == nil || d.Remote.Step != "dns" {
		t.Errorf("SERVFAIL: %v", d.Sentence())
	}
	d = mustDiag(t, deliver(t, r, m, 2))
	if d.Temporary() || d.Enhanced != [3]int{5, 1, 2} {
		t.Errorf("NXDOMAIN: %v %v", d.Enhanced, d.Sentence())
	}
	if srv.conns.Load() != 0 {
		t.Error("connected")
	}
}

// After relay.dead_after connection failures the destination is
// suspended: the next attempts defer at once with the reason, and Resume
// lets the next one try.
func TestDeadDestination(t *testing.T) {
	port := freePortOn(t, "127.0.0.2")
	e := newEnv(t, port, "dead_after = 3\ndead_interval = \"1h\"\n")
	e.dns.MustAdd("dead.example. 300 IN MX 10 mx.dead.example.", "mx.dead.example. 300 IN A 127.0.0.2")
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "a@dead.example")
	for i := 0; i < 3; i++ {
		d := mustDiag(t, deliver(t, r, m, 0))
		if !d.Temporary() || d.Remote == nil || d.Remote.Step != "connect" {
			t.Fatalf("attempt %d: %v", i, d.Sentence())
		}
	}
	start := time.Now()
	d := mustDiag(t, deliver(t, r, m, 0))
	if time.Since(start) > 100*time.Millisecond {
		t.Errorf("a suspended destination took %s", time.Since(start))
	}
	if !strings.Contains(d.Reason, "destination dead.example suspended until") || !strings.Contains(d.Reason, "3 connection failures, last: mx.dead.example[127.0.0.2] at connect") {
		t.Errorf("reason %q", d.Reason)
	}
	if !strings.Contains(d.Hint, "ebb queue flush --domain dead.example") {
		t.Errorf("hint %q", d.Hint)
	}
	srv := startServer(t, fmt.Sprintf("127.0.0.2:%d", port), nil, nil)
	if n := r.Resume("dead.example"); n != 1 {
		t.Errorf("Resume: %d", n)
	}
	if err := deliver(t, r, m, 0); err != nil {
		t.Fatal(err)
	}
	if len(srv.got()) != 1 {
		t.Error("not delivered after Resume")
	}
}

// verify refuses a certificate with another name or an expired one; may
// goes on in the clear after a failed handshake and says so; encrypt
// refuses a server without STARTTLS.
func TestTLSLevels(t *testing.T) {
	ca := servetest.NewCA(t)
	now := time.Now()
	wrongName := startServer(t, "127.0.0.2:0", ca.LeafValid(t, now.Add(-time.Hour), now.Add(time.Hour), "other.example"), nil)
	port := wrongName.Addr[strings.LastIndexByte(wrongName.Addr, ':')+1:]
	expired := startServer(t, "127.0.0.3:"+port, ca.LeafValid(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "mx.expired.example"), nil)
	broken := startServer(t, "127.0.0.4:"+port, nil, func(s *smtpd.Protocol) {
		s.TLS = &tls.Config{} // offers STARTTLS, has no certificate: every handshake fails
	})
	plain := startServer(t, "127.0.0.5:"+port, nil, nil)
	var p int
	fmt.Sscan(port, &p)
	e := newEnv(t, p, fmt.Sprintf("tls_ca_file = %q\ntls_policy = [\"wrong.example=verify\", \"expired.example=verify\", \"plain.example=encrypt\"]\n", ca.File(t, t.TempDir())))
	e.dns.MustAdd("wrong.example. MX 10 mx.wrong.example.", "mx.wrong.example. A 127.0.0.2",
		"expired.example. MX 10 mx.expired.example.", "mx.expired.example. A 127.0.0.3",
		"broken.example. MX 10 mx.broken.example.", "mx.broken.example. A 127.0.0.4",
		"plain.example. MX 10 mx.plain.example.", "mx.plain.example. A 127.0.0.5")
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "a@wrong.example", "b@expired.example", "c@broken.example", "d@plain.example")
	for i, want := range []string{"other.example", "expired"} {
		d := mustDiag(t, deliver(t, r, m, i))
		if !d.Temporary() || d.Remote == nil || d.Remote.Step != "starttls" || !strings.Contains(d.Reason, want) {
			t.Errorf("%s: %v", m.Recipients[i].Address, d.Sentence())
		}
		if d.Setting == nil || d.Setting.Key != "relay.tls_policy" {
			t.Errorf("setting %+v", d.Setting)
		}
	}
	if len(wrongName.got())+len(expired.got()) != 0 {
		t.Error("delivered despite verify")
	}
	// may: the failed handshake is retried in the clear.
	if err := deliver(t, r, m, 2); err != nil {
		t.Fatalf("may: %v", err)
	}
	if g := broken.got(); len(g) != 1 || g[0].TLS {
		t.Errorf("may: %+v", g)
	}
	if v := testutilCount(t, r.Metrics().downgrades); v != 1 {
		t.Errorf("downgrades %v", v)
	}
	d := mustDiag(t, deliver(t, r, m, 3))
	if !strings.Contains(d.Reason, "does not offer STARTTLS") || len(plain.got()) != 0 {
		t.Errorf("encrypt: %v", d.Sentence())
	}
}

// SIZE and SMTPUTF8 limits of the server fail at once, naming them.
func TestServerLimits(t *testing.T) {
	srv := startServer(t, "127.0.0.2:0", nil, func(s *smtpd.Protocol) {
		s.MaxMessageBytes = 100
		s.NoSMTPUTF8 = true
	})
	var port int
	fmt.Sscan(srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:], &port)
	e := newEnv(t, port, "")
	e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	r := e.relay(Options{})
	big := e.message("alice@ours.test", body+strings.Repeat("x", 200)+"\r\n", "bob@example.net")
	d := mustDiag(t, deliver(t, r, big, 0))
	if d.Temporary() || !strings.Contains(d.Reason, "accepts at most 100 (its SIZE)") || d.Enhanced != [3]int{5, 3, 4} {
		t.Errorf("SIZE: %v", d.Sentence())
	}
	u := e.message("alice@ours.test", body, "jörg@example.net")
	d = mustDiag(t, deliver(t, r, u, 0))
	if d.Temporary() || !strings.Contains(d.Reason, "SMTPUTF8") || d.Enhanced != [3]int{5, 6, 7} {
		t.Errorf("SMTPUTF8: %v", d.Sentence())
	}
	if len(srv.got()) != 0 {
		t.Error("sent anyway")
	}
	// Flagged SMTPUTF8 by the client, but all ASCII: goes as it is.
	a := e.message("alice@ours.test", body, "bob@example.net")
	a.Envelope.SMTPUTF8 = true
	if err := deliver(t, r, a, 0); err != nil {
		t.Errorf("ASCII message flagged SMTPUTF8: %v", err)
	}
	h := e.message("alice@ours.test", "Subject: grüße\r\n\r\nhi\r\n", "bob@example.net")
	h.Envelope.SMTPUTF8 = true
	if d := mustDiag(t, deliver(t, r, h, 0)); d.Enhanced != [3]int{5, 6, 7} {
		t.Errorf("UTF-8 header: %v", d.Sentence())
	}
	if len(srv.got()) != 1 {
		t.Errorf("received %d, want 1", len(srv.got()))
	}
}

type stsTable map[string]*mtasts.Policy

func (s stsTable) Get(ctx context.Context, d string) (*mtasts.Policy, error) {
	if d == "unavailable.example" {
		return nil, errors.New("fetch https://mta-sts.unavailable.example/.well-known/mta-sts.txt: timeout")
	}
	return s[d], nil
}

// MTA-STS enforce defers when no MX matches the policy, saying which;
// testing delivers, and so does an exempt domain's enforce policy, each
// saying so in the handoff's policy note (explain, mailq), not only in
// the log and the metric.
func TestMTASTS(t *testing.T) {
	srv := startServer(t, "127.0.0.2:0", nil, nil)
	var port int
	fmt.Sscan(srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:], &port)
	e := newEnv(t, port, "\n[mta_sts]\nexempt = [\"exempted.example\"]\n")
	e.dns.MustAdd("enforced.example. MX 10 mx.enforced.example.", "mx.enforced.example. A 127.0.0.2",
		"tested.example. MX 10 mx.tested.example.", "mx.tested.example. A 127.0.0.2",
		"exempted.example. MX 10 mx.exempted.example.", "mx.exempted.example. A 127.0.0.2",
		"unavailable.example. MX 10 mx.unavailable.example.", "mx.unavailable.example. A 127.0.0.2")
	r := e.relay(Options{STS: stsTable{
		"enforced.example": {Domain: "enforced.example", Mode: mtasts.Enforce, MX: []string{"*.elsewhere.example"}},
		"tested.example":   {Domain: "tested.example", Mode: mtasts.Testing, MX: []string{"*.elsewhere.example"}},
		"exempted.example": {Domain: "exempted.example", Mode: mtasts.Enforce, MX: []string{"*.elsewhere.example"}},
	}})
	m := e.message("alice@ours.test", body, "a@enforced.example", "b@tested.example", "c@exempted.example")
	d := mustDiag(t, deliver(t, r, m, 0))
	if !d.Temporary() || !strings.Contains(d.Reason, "MTA-STS policy of enforced.example (mode enforce) allows mx *.elsewhere.example; none of its MX hosts mx.enforced.example matches") {
		t.Errorf("enforce: %v", d.Sentence())
	}
	if err := deliver(t, r, m, 1); err != nil {
		t.Errorf("testing: %v", err)
	}
	// testing: the MX mismatch and the missing TLS are both counted, and
	// said in the handoff.
	if v := testutilCount(t, r.Metrics().sts.WithLabelValues("testing")); v != 2 {
		t.Errorf("testing mode counted %v, want 2", v)
	}
	if h := m.Recipients[1].Relay; h == nil || !strings.Contains(h.Policy, "MX hosts mx.tested.example not all in the MTA-STS policy (testing mode: delivered anyway; it allows mx *.elsewhere.example)") ||
		!strings.Contains(h.Policy, "MTA-STS enforce would have refused this host (no TLS session)") {
		t.Errorf("testing: handoff %+v", h)
	}
	if err := deliver(t, r, m, 2); err != nil {
		t.Errorf("exempt: %v", err)
	}
	if v := testutilCount(t, r.Metrics().stsExempt); v != 1 {
		t.Errorf("exempt counted %v, want 1", v)
	}
	if h := m.Recipients[2].Relay; h == nil || !strings.Contains(h.Policy, "; MTA-STS policy of exempted.example not applied (mta_sts.exempt lists exempted.example)") {
		t.Errorf("exempt: handoff %+v", h)
	}
	// A policy that cannot be had (RFC 8461 §5.1): delivered as without
	// one, and said.
	m2 := e.message("alice@ours.test", body, "d@unavailable.example")
	if err := deliver(t, r, m2, 0); err != nil {
		t.Errorf("unavailable: %v", err)
	}
	if h := m2.Recipients[0].Relay; h == nil || !strings.Contains(h.Policy, "; MTA-STS policy of unavailable.example unavailable (fetch https://mta-sts.unavailable.example/.well-known/mta-sts.txt: timeout): delivered as without one") {
		t.Errorf("unavailable: handoff %+v", h)
	}
	if len(srv.got()) != 3 {
		t.Errorf("received %d", len(srv.got()))
	}
}

func testutilCount(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// RFC 3461: the sender's DSN requests travel on to a server that offers
// DSN, and the handoff says so.
func TestDSNParametersPassedOn(t *testing.T) {
	srv := startServer(t, "127.0.0.2:0", nil, nil)
	var port int
	fmt.Sscan(srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:], &port)
	e := newEnv(t, port, "")
	e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "bob@example.net")
	m.Envelope.Ret, m.Envelope.EnvID = "HDRS", "id+1=x"
	m.Envelope.RcptDSN = map[string]queue.RecipientDSN{"bob@example.net": {Notify: []string{"SUCCESS", "FAILURE"}, ORCPTType: "rfc822", ORCPT: "bob@old.example"}}
	if err := deliver(t, r, m, 0); err != nil {
		t.Fatal(err)
	}
	g := srv.got()
	if len(g) != 1 {
		t.Fatalf("received %d", len(g))
	}
	if g[0].Opts.Ret != "HDRS" || g[0].Opts.EnvID != "id+1=x" {
		t.Errorf("MAIL options %+v", g[0].Opts)
	}
	ro := g[0].RcptOpts
	if ro == nil || len(ro.Notify) != 2 || ro.Notify[0] != "SUCCESS" || ro.ORCPT != "bob@old.example" {
		t.Errorf("RCPT options %+v", ro)
	}
	if h := m.Recipients[0].Relay; h == nil || !h.DSN || !strings.HasPrefix(h.Reply, "250 ") {
		t.Errorf("handoff %+v", h)
	}
}

// DeliverBatch: the recipients of one destination share a transaction,
// the data goes once; a server's recipient limit (452 4.5.3) moves the
// rest to the next transaction; a refused recipient fails alone; another
// destination gets its own session.
func TestDeliverBatch(t *testing.T) {
	port := freePortOn(t, "127.0.0.2", "127.0.0.3")
	one := startServer(t, fmt.Sprintf("127.0.0.2:%d", port), nil, func(s *smtpd.Protocol) { s.MaxRecipients = 2 })
	one.RefuseRcpt = "nobody@example.net"
	two := startServer(t, fmt.Sprintf("127.0.0.3:%d", port), nil, nil)
	e := newEnv(t, port, "")
	e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2",
		"example.org. MX 10 mx.example.org.", "mx.example.org. A 127.0.0.3")
	r := e.relay(Options{})
	m := e.message("alice@ours.test", body, "a@example.net", "b@example.net", "nobody@example.net", "c@example.net", "d@example.org", "e@example.org")
	errs := r.DeliverBatch(context.Background(), m, m.Recipients)
	for i, err := range errs {
		addr := m.Recipients[i].Address
		if addr == "nobody@example.net" {
			d := mustDiag(t, err)
			if d.Temporary() || d.Remote == nil || d.Remote.Code != 550 {
				t.Errorf("%s: %v", addr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", addr, err)
		}
		if m.Recipients[i].Relay == nil {
			t.Errorf("%s: no handoff", addr)
		}
	}
	if n := len(one.got()); n != 3 {
		t.Errorf("example.net got %d recipients, want 3", n)
	}
	// a, b (limit 2: nobody refused, c deferred by the limit), then c.
	if n := one.datas.Load(); n != 2 {
		t.Errorf("example.net: %d transactions with data, want 2", n)
	}
	if n := two.datas.Load(); n != 1 || len(two.got()) != 2 {
		t.Errorf("example.org: %d transactions, %d recipients; want 1, 2", n, len(two.got()))
	}
	if one.conns.Load() != 1 || two.conns.Load() != 1 {
		t.Errorf("connections %d, %d; want 1 each", one.conns.Load(), two.conns.Load())
	}
}

// Each MX host's IPv6 and IPv4 addresses are tried in turn, at most
// relay.max_addresses_per_host of them.
func TestAddressesInTurn(t *testing.T) {
	// Nothing listens on ::1 at this port (or there is no ::1): the IPv6
	// address fails at connect either way.
	srv := startServer(t, "127.0.0.2:0", nil, nil)
	port := srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:]
	for _, tc := range []struct {
		limit     int
		delivered bool
	}{{2, true}, {1, false}} {
		var p int
		fmt.Sscan(port, &p)
		e := newEnv(t, p, fmt.Sprintf("max_addresses_per_host = %d\n", tc.limit))
		e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. AAAA ::1", "mx.example.net. A 127.0.0.2")
		r := e.relay(Options{})
		err := deliver(t, r, e.message("alice@ours.test", body, "bob@example.net"), 0)
		if tc.delivered != (err == nil) {
			t.Errorf("limit %d: %v", tc.limit, err)
		}
		if err != nil && !strings.Contains(err.Error(), "mx.example.net[::1] at connect") {
			t.Errorf("limit %d: the IPv6 address was not tried first: %v", tc.limit, err)
		}
	}
	if len(srv.got()) != 1 {
		t.Errorf("received %d", len(srv.got()))
	}
}

// RFC 6152: 8-bit data to a server without 8BITMIME fails with 5.6.3; a
// message declared 8BITMIME that is all 7-bit goes.
func TestNo8BitToA7BitServer(t *testing.T) {
	srv := startServer(t, "127.0.0.2:0", nil, nil)
	var port int
	fmt.Sscan(srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:], &port)
	e := newEnv(t, port, "")
	e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	r := e.relay(Options{})
	m7 := e.message("alice@ours.test", body, "bob@example.net")
	m7.Envelope.BodyType = "8BITMIME"
	m8 := e.message("alice@ours.test", "Subject: x\r\n\r\ngrüße\r\n", "bob@example.net")
	m8.Envelope.BodyType = "8BITMIME"
	// Issue 24: 8-bit data its sender did not declare (found by the queue
	// while spooling; or, queued before it looked, read here) is refused
	// to a 7-bit server too, never sent raw.
	undeclared := e.message("alice@ours.test", "Subject: x\r\n\r\ngrüße\r\n", "bob@example.net")
	undeclared.Envelope.EightBit = true
	unknown := e.message("alice@ours.test", "Subject: x\r\n\r\ngrüße\r\n", "bob@example.net")
	// go-smtp always offers 8BITMIME: the check is made against a
	// session that does not.
	c := &conn{host: "mx.example.net", ip: "127.0.0.2", ext: map[string]string{}}
	for _, tc := range []struct {
		m    *queue.Message
		fail bool
	}{{m7, false}, {m8, true}, {undeclared, true}, {unknown, true}} {
		f, err := tc.m.OpenData()
		if err != nil {
			t.Fatal(err)
		}
		a := &attempt{m: tc.m, rc: tc.m.Recipients[0], hop: hop{Domain: "example.net"}}
		err = r.checkCaps(a, c, f)
		f.Close()
		if tc.fail {
			if d := mustDiag(t, err); d.Enhanced != [3]int{5, 6, 3} || !strings.Contains(d.Reason, "does not offer 8BITMIME") {
				t.Errorf("8-bit: %v", d.Sentence())
			}
		} else if err != nil {
			t.Errorf("7-bit: %v", err)
		}
	}
	// A server with 8BITMIME takes the 8-bit ones, declared BODY=8BITMIME
	// whether their sender declared it or not (RFC 6152 §2).
	for _, m := range []*queue.Message{m8, undeclared} {
		if err := deliver(t, r, m, 0); err != nil {
			t.Errorf("to an 8BITMIME server: %v", err)
		}
	}
	for _, got := range srv.got() {
		if got.Opts == nil || got.Opts.Body != "8BITMIME" {
			t.Errorf("8-bit data sent without BODY=8BITMIME: %+v", got.Opts)
		}
	}
}

// A cached session the server closed meanwhile is replaced by a fresh
// one without a failure (the RSET pipelined with the next transaction
// finds it gone).
func TestStaleSessionReplaced(t *testing.T) {
	port := freePortOn(t, "127.0.0.2")
	addr := fmt.Sprintf("127.0.0.2:%d", port)
	first := startServer(t, addr, nil, nil)
	e := newEnv(t, port, "idle_timeout = \"1m\"\n")
	e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	r := e.relay(Options{})
	if err := deliver(t, r, e.message("alice@ours.test", body, "bob@example.net"), 0); err != nil {
		t.Fatal(err)
	}
	first.Close() // drops the session ebb keeps
	second := startServer(t, addr, nil, nil)
	if err := deliver(t, r, e.message("alice@ours.test", body, "bob@example.net"), 0); err != nil {
		t.Fatalf("after the server closed the cached session: %v", err)
	}
	if len(second.got()) != 1 || second.conns.Load() != 1 {
		t.Errorf("second server: %d messages, %d connections", len(second.got()), second.conns.Load())
	}
}

// stsFunc is an STSPolicies made of a function.
type stsFunc func(ctx context.Context, d string) (*mtasts.Policy, error)

func (f stsFunc) Get(ctx context.Context, d string) (*mtasts.Policy, error) { return f(ctx, d) }

// A session reused for a later message says that message's own plan in
// its handoff: the MTA-STS policy that could not be had for the message
// that opened it is not said of the next one, which had it. A session is
// not reused under another MTA-STS policy than the one it was opened
// under (its note would tell the other one).
func TestReusedSessionSaysEachMessagesOwnWaivers(t *testing.T) {
	srv := startServer(t, "127.0.0.2:0", nil, nil)
	var port int
	fmt.Sscan(srv.Addr[strings.LastIndexByte(srv.Addr, ':')+1:], &port)
	e := newEnv(t, port, "")
	e.dns.MustAdd("flaky.example. MX 10 mx.flaky.example.", "mx.flaky.example. A 127.0.0.2")
	var gets atomic.Int32
	r := e.relay(Options{STS: stsFunc(func(ctx context.Context, d string) (*mtasts.Policy, error) {
		switch gets.Add(1) {
		case 1:
			return nil, errors.New("fetch https://mta-sts.flaky.example/.well-known/mta-sts.txt: timeout")
		case 2:
			return nil, nil // no policy published
		}
		return &mtasts.Policy{Domain: "flaky.example", ID: "t1", Mode: mtasts.Testing, MX: []string{"mx.flaky.example"}}, nil
	})})
	const note = "MTA-STS policy of flaky.example unavailable"
	m1 := e.message("alice@ours.test", body, "a@flaky.example")
	if err := deliver(t, r, m1, 0); err != nil {
		t.Fatal(err)
	}
	if h := m1.Recipients[0].Relay; h == nil || !strings.Contains(h.Policy, note) {
		t.Fatalf("first message's handoff %+v, want %q", h, note)
	}
	m2 := e.message("alice@ours.test", body, "b@flaky.example")
	if err := deliver(t, r, m2, 0); err != nil {
		t.Fatal(err)
	}
	if h := m2.Recipients[0].Relay; h == nil || strings.Contains(h.Policy, note) || h.Policy == "" {
		t.Errorf("second message's handoff %+v: the first message's waiver, or no policy", h)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections for 2 messages, want 1 (reuse)", n)
	}
	// A policy published since: the session opened without one is not
	// reused, and the handoff tells the policy this message met.
	m3 := e.message("alice@ours.test", body, "c@flaky.example")
	if err := deliver(t, r, m3, 0); err != nil {
		t.Fatal(err)
	}
	if h := m3.Recipients[0].Relay; h == nil || !strings.HasPrefix(h.Policy, "MTA-STS (mode testing, policy id t1)") {
		t.Errorf("third message's handoff %+v, want the testing policy t1", h)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections for 3 messages, want 2 (no reuse across policies)", n)
	}
}
