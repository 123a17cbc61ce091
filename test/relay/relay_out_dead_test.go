package relay

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// blackhole accepts connections and never says a word: a remote that
// hangs until our greeting timeout, the expensive kind of dead. It counts
// the connections it accepted and those the client closed (its greeting
// timeout passed).
type blackholeMX struct {
	accepted, closed atomic.Int32
	// firstAccept and firstClose are closed at the first accepted
	// connection and the first one the client closed; accepts gets a
	// signal (not queued) at every accepted connection.
	firstAccept, firstClose chan struct{}
	accepts                 chan struct{}
}

func blackhole(t *testing.T, addr string) *blackholeMX {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &blackholeMX{firstAccept: make(chan struct{}), firstClose: make(chan struct{}), accepts: make(chan struct{}, 1)}
	var accepted, closed sync.Once
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			accepted.Do(func() { close(b.firstAccept) })
			select {
			case b.accepts <- struct{}{}:
			default:
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			go func() {
				io.Copy(io.Discard, c) // until the client gives up
				b.closed.Add(1)
				closed.Do(func() { close(b.firstClose) })
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return b
}

// relayedTo counts the log's relayed lines for a domain.
func relayedTo(log, domain string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg=relayed") && strings.Contains(l, "@"+domain+" ") {
			n++
		}
	}
	return n
}

func waitRelayed(t *testing.T, e *harness.OutInstance, domain string, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if !harness.WaitOn(within, func() bool { return relayedTo(e.Log(), domain) >= n }, e.LogFile()) {
		t.Fatalf("%d of %d relayed to %s within %s; mailq:\n%s\nlog:\n%s", relayedTo(e.Log(), domain), n, domain, within, harness.Tail(e.Mailq(), 20), grepFailed(e.Log()))
	}
	return time.Since(start)
}

// A destination whose MX accepts connections and never greets is
// suspended after relay.dead_after failures: its 200 messages cost one
// greeting timeout per attempt wave, not one per message, and 200
// messages to a live destination sent at the same time are not held up
// by more than that one timeout. mailq says it is suspended, until when
// and why; ebb queue flush --domain tries it again at once.
func TestRelayOutDeadDestination(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	port := harness.CommonPort(t, "127.0.0.2", "127.0.0.10", "127.0.0.11")
	sink := harness.StartSMTPSink(t, fmt.Sprintf("127.0.0.10:%d", port))
	_ = sink
	hung := blackhole(t, fmt.Sprintf("127.0.0.11:%d", port))
	dns.MustAdd("one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.0.2",
		"live.example. MX 10 mx.live.example.", "mx.live.example. A 127.0.0.10",
		"dead.example. MX 10 mx.dead.example.", "mx.dead.example. A 127.0.0.11")
	one := harness.NewOutInstance(t, harness.OutOpts{Domain: "one.example", IP: "127.0.0.2", Port: port, DNS: dns.Addr(), RelayPort: port,
		Users: []string{"alice"}, Relay: "dead_after = 3\ndead_interval = \"10m\""})

	// Baseline: 200 to the live destination alone.
	start := time.Now()
	one.SubmitMany(200, "alice@one.example", func(i int) string { return fmt.Sprintf("u%d@live.example", i) })
	waitRelayed(t, one, "live.example", 200, 60*time.Second)
	alone := time.Since(start)

	// 200 to the dead one and 200 to the live one, interleaved. While the
	// first wave to the dead MX hangs (from its first connection until
	// the first greeting timeout), the live destination keeps going: a
	// dead destination holds up only its own messages. Told by the
	// events, not timed: a loaded machine slows both.
	start = time.Now()
	window := make(chan [2]int, 1)
	go func() {
		<-hung.firstAccept
		before := relayedTo(one.Log(), "live.example")
		<-hung.firstClose
		window <- [2]int{before, relayedTo(one.Log(), "live.example")}
	}()
	one.SubmitMany(400, "alice@one.example", func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("d%d@dead.example", i)
		}
		return fmt.Sprintf("v%d@live.example", i)
	})
	waitRelayed(t, one, "live.example", 400, 120*time.Second)
	mixed := time.Since(start)
	t.Logf("200 live alone: %s; 200 live beside 200 dead: %s; connections to the dead MX: %d", alone.Round(time.Millisecond), mixed.Round(time.Millisecond), hung.accepted.Load())
	select {
	case w := <-window:
		t.Logf("while the first wave to the dead MX hung, the live destination went from %d to %d relayed", w[0], w[1])
		if w[1] == w[0] && w[0] < 400 {
			t.Errorf("the live destination stood still (%d relayed) while the dead one's first wave hung", w[0])
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no greeting timeout on the dead MX's %d connections", hung.accepted.Load())
	}
	// Every dead message deferred, the destination suspended after one wave.
	q := one.WaitMailq(30*time.Second, "200 deferred")
	if n := hung.accepted.Load(); n > 25 {
		t.Errorf("%d connections to the dead MX for 200 messages; a suspended destination should cost one wave (≤ relay.max_per_destination)", n)
	}
	re := regexp.MustCompile(`destination dead\.example suspended until \d\d:\d\d: \d+ connection failures, last: mx\.dead\.example\[127\.0\.0\.11\] at greeting: i/o timeout`)
	for _, l := range strings.Split(q, "\n") {
		if strings.Contains(l, "deferred: ") {
			t.Log(l)
		}
	}
	// One cause, one line in the summary.
	if n := strings.Count(q, "deferred: cannot deliver to {address}: destination {domain} suspended until"); n != 1 {
		t.Errorf("the suspension is %d groups in the summary, want 1:\n%s", n, harness.Tail(q, 12))
	}
	if !re.MatchString(q) {
		t.Errorf("mailq does not say the destination is suspended:\n%s", harness.Tail(q, 12))
	}
	if !strings.Contains(q, "ebb queue flush --domain dead.example") {
		t.Errorf("mailq has no fix:\n%s", harness.Tail(q, 12))
	}
	before := hung.accepted.Load()
	// The operator: the MX is back (here: still hanging), flush now.
	r := harness.Run(t, exec.Command(harness.Ebb(t), "queue", "flush", "-c", one.Conf, "--domain", "dead.example"), nil)
	if r.Code != 0 || !strings.Contains(r.Stdout, "flush: 200 messages") {
		t.Fatalf("flush --domain: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	timeout := time.After(15 * time.Second)
	for hung.accepted.Load() == before {
		select {
		case <-hung.accepts:
			continue
		case <-timeout:
		}
		break
	}
	if hung.accepted.Load() == before {
		t.Errorf("flush --domain did not try the suspended destination")
	}
}

func grepFailed(log string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "outcome=failed") || strings.Contains(l, "outcome=deferred") {
			return l
		}
	}
	return ""
}
