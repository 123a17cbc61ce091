package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/srs"
)

func testRewriter(t *testing.T, now time.Time) *srs.Rewriter {
	t.Helper()
	rw, err := srs.New(srs.Config{Domain: "srs.example", Secrets: []string{"s3cret"}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

// innerPolicy records what reaches the inbound policy behind SRS.
type innerPolicy struct{ rcpts []string }

func (p *innerPolicy) Mail(context.Context, *smtpd.SessionInfo, string, *smtpd.MailOptions) error {
	return nil
}
func (p *innerPolicy) Rcpt(_ context.Context, _ *smtpd.SessionInfo, to string, _ *smtpd.RcptOptions) error {
	p.rcpts = append(p.rcpts, to)
	return nil
}

func TestSRSPolicyAtRCPT(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rw := testRewriter(t, now)
	valid, _ := rw.Forward("alice@orig.example")
	old, _ := testRewriter(t, now.Add(-30*24*time.Hour)).Forward("alice@orig.example")
	inner := &innerPolicy{}
	p := srsPolicy{Policy: inner, rw: rw}
	for _, tc := range []struct {
		name, rcpt, want string // want: "" accepted, else the reply's code and enhanced code
		inner            bool
	}{
		{"a valid SRS address is accepted without the directory", valid, "", false},
		{"a forged hash is refused", strings.Replace(valid, valid[5:9], "AAAA", 1), "550 5.7.1", false},
		{"an expired address is refused", old, "550 5.1.1", false},
		{"an ordinary address goes to the inbound policy", "bob@srs.example", "", true},
		{"an SRS-looking address of another domain too", "SRS0=x=y=z=w@other.example", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner.rcpts = nil
			err := p.Rcpt(context.Background(), &smtpd.SessionInfo{}, tc.rcpt, nil)
			var se *smtpd.Reply
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &se) || fmt.Sprintf("%d %d.%d.%d", se.Code, se.Enhanced[0], se.Enhanced[1], se.Enhanced[2]) != tc.want):
				t.Fatalf("reply %v, want %s", err, tc.want)
			}
			if (len(inner.rcpts) > 0) != tc.inner {
				t.Fatalf("inbound policy asked: %v, want %v", inner.rcpts, tc.inner)
			}
		})
	}
}

// The queue's own DSNs to an SRS sender go to the address it stands for,
// through the transport of that address's route.
func TestWithSRSDeliversToTheOriginalSender(t *testing.T) {
	rw := testRewriter(t, time.Now())
	d := &daemon{cfg: config.Defaults(), srs: rw}
	var got []string
	record := func(name string) queue.Transport {
		return queue.TransportFunc(func(ctx context.Context, m *queue.Message, r *queue.Recipient) error {
			got = append(got, name+" "+r.Address)
			return nil
		})
	}
	tr := d.withSRS(queue.Transports{
		Route: func(ctx context.Context, rcpt string) (queue.Route, error) {
			if strings.HasSuffix(rcpt, "@here.example") {
				return queue.Local, nil
			}
			return queue.Remote, nil
		},
		Local: record("local"), Remote: record("remote"),
	})
	remote, _ := rw.Forward("alice@orig.example")
	local, _ := rw.Forward("bob@here.example")
	for _, a := range []string{remote, local, "carol@here.example"} {
		rt, err := tr.Route(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		x := tr.Local
		if rt == queue.Remote {
			x = tr.Remote
		}
		if err := x.Deliver(context.Background(), &queue.Message{}, &queue.Recipient{Address: a}); err != nil {
			t.Fatal(err)
		}
	}
	want := "remote alice@orig.example,local bob@here.example,local carol@here.example"
	if strings.Join(got, ",") != want {
		t.Fatalf("delivered %q, want %q", strings.Join(got, ","), want)
	}
	forged := strings.Replace(remote, remote[5:9], "AAAA", 1)
	err := tr.Local.Deliver(context.Background(), &queue.Message{}, &queue.Recipient{Address: forged})
	if de, ok := diag.As(err); !ok || de.Temporary() || de.SMTPCode != 550 {
		t.Fatalf("forged SRS recipient: %v", err)
	}
}

func TestForwardDSNFollowsRFC3461Aliases(t *testing.T) {
	m := &queue.Message{Envelope: queue.Envelope{RcptDSN: map[string]queue.RecipientDSN{
		"succ@here.example":  {Notify: []string{"SUCCESS", "FAILURE"}},
		"only@here.example":  {Notify: []string{"SUCCESS"}},
		"orcpt@here.example": {ORCPTType: "rfc822", ORCPT: "Given@Here.Example"},
	}}}
	for _, tc := range []struct {
		name, alias string
		done, to    []string
		notify      string // what the addresses get
		orcpt       string
		handoff     string // "", "dsn", "expanded"
	}{
		{"one address: NOTIFY goes on whole, the next hop reports", "succ@here.example", nil, []string{"a@x.example"}, "SUCCESS,FAILURE", "rfc822;succ@here.example", "dsn"},
		{"several: expanded here, SUCCESS not passed on", "succ@here.example", nil, []string{"a@x.example", "b@y.example"}, "FAILURE", "rfc822;succ@here.example", "expanded"},
		{"a local mailbox and a remote: several", "succ@here.example", []string{"box@here.example"}, []string{"a@x.example"}, "FAILURE", "rfc822;succ@here.example", "expanded"},
		{"only SUCCESS asked: the addresses get NEVER", "only@here.example", nil, []string{"a@x.example", "b@y.example"}, "NEVER", "rfc822;only@here.example", "expanded"},
		{"no NOTIFY: defaults, the client's ORCPT kept", "orcpt@here.example", nil, []string{"a@x.example", "b@y.example"}, "", "rfc822;Given@Here.Example", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, h := forwardDSN(m, &queue.Recipient{Address: tc.alias, Done: tc.done}, tc.to)
			for _, a := range tc.to {
				p := got[a]
				if strings.Join(p.Notify, ",") != tc.notify || p.ORCPTType+";"+p.ORCPT != tc.orcpt {
					t.Errorf("%s gets notify %q orcpt %s;%s, want %q %s", a, strings.Join(p.Notify, ","), p.ORCPTType, p.ORCPT, tc.notify, tc.orcpt)
				}
			}
			kind := ""
			switch {
			case h != nil && h.Expanded:
				kind = "expanded"
			case h != nil && h.DSN:
				kind = "dsn"
			}
			if kind != tc.handoff {
				t.Errorf("handoff %q, want %q", kind, tc.handoff)
			}
		})
	}
	if got := m.Envelope.RcptDSN["succ@here.example"].Notify; strings.Join(got, ",") != "SUCCESS,FAILURE" {
		t.Fatalf("the message's own parameters changed: %v", got)
	}
}

// A directory that cannot say whether the sender's domain is hosted here
// makes a note ("sender not rewritten") only for a copy that leaves for a
// remote address (or one the directory cannot place either), and the note
// names the real reason: with srs.enable off, SRS being off, not the
// directory.
func TestSRSSenderUnknownNotedOnlyForARemoteCopy(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.Server.DataDir = t.TempDir()
	dir, err := directory.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := dir.AddDomain(ctx, "here.example"); err != nil {
		t.Fatal(err)
	}
	// The recipients' domains are known (the directory's cache holds
	// them); the sender's is asked once the database is gone.
	for _, dom := range []string{"here.example", "away.example"} {
		if _, err := dir.IsLocalDomain(ctx, dom); err != nil {
			t.Fatal(err)
		}
	}
	dir.Close()
	if _, err := dir.IsLocalDomain(ctx, "sender.example"); err == nil {
		t.Fatal("the closed directory answered for the sender's domain")
	}
	lg, err := logging.New(io.Discard, "logfmt", "error")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		srs   bool
		rcpts []string
		why   string // "" no note
	}{
		{"SRS on, local copy", true, []string{"bob@here.example"}, ""},
		{"SRS off, local copy", false, []string{"bob@here.example"}, ""},
		{"SRS on, remote copy", true, []string{"bob@here.example", "carol@away.example"}, "the directory did not answer whether sender.example is hosted here"},
		{"SRS off, remote copy", false, []string{"carol@away.example"}, "srs.enable is off"},
		{"SRS on, a recipient the directory cannot place either", true, []string{"dan@unplaced.example"}, "the directory did not answer whether sender.example is hosted here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &daemon{cfg: cfg, dir: dir, log: lg}
			if tc.srs {
				d.srs = testRewriter(t, time.Now())
			}
			sender, why := d.srsSender(ctx, &queue.Message{ID: "q1"}, "alice@sender.example", tc.rcpts)
			if sender != "alice@sender.example" {
				t.Errorf("sender %q, want it kept", sender)
			}
			if tc.why == "" && why != "" || tc.why != "" && !strings.Contains(why, tc.why) {
				t.Errorf("note %q, want one saying %q", why, tc.why)
			}
			if tc.why != "" && !tc.srs && strings.Contains(why, "directory") {
				t.Errorf("SRS is off, but the note blames the directory: %q", why)
			}
			if n := d.srsNotRewritten.Load(); (n == 1) != (tc.why != "") || n > 1 {
				t.Errorf("counted %d copies not rewritten", n)
			}
		})
	}
}
