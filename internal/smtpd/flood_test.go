package smtpd

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// fakeClock is the bound's clock in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func refusalAt(t time.Time, ip string) Refusal {
	return Refusal{Time: t, Stage: "connection", Kind: Inbound, RemoteIP: ip, Err: &diag.Error{Ref: diag.NewRef()}}
}

func TestRefusalBoundSharesByKindAndSource(t *testing.T) {
	clock := newFakeClock()
	b := newRefusalBound(clock.Now)
	take := func(kind, ip string) (string, bool, []Refusal) {
		t.Helper()
		ref, first, flood, done := b.take(kind, refusalAt(clock.Now(), ip))
		if flood {
			t.Fatalf("flood ref for %s from %s", kind, ip)
		}
		return ref, first, done
	}
	a, first, _ := take("per_ip", "192.0.2.1")
	if !first {
		t.Fatal("the first refusal is not the first of its ref")
	}
	for i := 0; i < 99; i++ {
		clock.Add(500 * time.Millisecond) // 49.5 s: within the window
		if r, first, done := take("per_ip", "192.0.2.1"); r != a || first || len(done) != 0 {
			t.Fatalf("refusal %d of the same kind from the same source: ref %s first %v done %v, want %s shared", i+2, r, first, done, a)
		}
	}
	last := clock.Now()
	seen := map[string]bool{a: true}
	for _, other := range [][2]string{{"total", "192.0.2.1"}, {"per_ip", "192.0.2.2"}, {"per_ip", "2001:db8:0:1::5"}} {
		r, first, _ := take(other[0], other[1])
		if !first || seen[r] {
			t.Errorf("%s from %s: ref %s first %v, want a ref of its own", other[0], other[1], r, first)
		}
		seen[r] = true
	}
	// The same IPv6 /64 is one source; the next /64 another.
	v6, _, _ := take("per_ip", "2001:db8:0:1::5")
	if r, first, _ := take("per_ip", "2001:db8:0:1:ffff::1"); r != v6 || first {
		t.Errorf("another address of the same /64: ref %s first %v, want %s shared", r, first, v6)
	}
	if r, first, _ := take("per_ip", "2001:db8:0:2::5"); r == v6 || !first {
		t.Errorf("another /64: ref %s first %v, want its own", r, first)
	}
	if done := b.expire(clock.Now(), false); len(done) != 0 {
		t.Fatalf("follow-ups before the window ended: %+v", done)
	}
	clock.Add(shareWindow)
	r, first, done := take("per_ip", "192.0.2.1")
	if r == a || !first {
		t.Errorf("after the window: ref %s first %v, want a new ref", r, first)
	}
	var fu *Refusal
	for i := range done {
		if done[i].Err.Ref == a {
			fu = &done[i]
		} else if done[i].Count < 2 {
			t.Errorf("follow-up of a ref taken once: %+v", done[i])
		}
	}
	if fu == nil || fu.Count != 100 || !fu.Time.Equal(last) || !fu.First.Equal(last.Add(-99*500*time.Millisecond)) {
		t.Fatalf("follow-up of %s: %+v in %+v, want Count 100 from the first to the last refusal", a, fu, done)
	}
	if done := b.expire(clock.Now(), true); len(done) != 0 {
		t.Errorf("at shutdown, follow-ups of refs taken once: %+v", done)
	}
}

func TestRefusalBoundFloodRef(t *testing.T) {
	clock := newFakeClock()
	b := newRefusalBound(clock.Now)
	own := map[string]bool{}
	var floodRef string
	n := 0
	take := func() (string, bool, bool) {
		n++
		ref, first, flood, _ := b.take("per_ip", refusalAt(clock.Now(), fmt.Sprintf("10.0.%d.%d", n/250, n%250)))
		return ref, first, flood
	}
	for i := 0; i < newRecordsBurst+2*newRecordsPerSecond; i++ {
		ref, first, flood := take()
		switch {
		case i < newRecordsBurst:
			if !first || flood || own[ref] {
				t.Fatalf("source %d within the burst: ref %s first %v flood %v", i, ref, first, flood)
			}
			own[ref] = true
		case i == newRecordsBurst:
			if !first || !flood {
				t.Fatalf("the first source over the bound: first %v flood %v, want the flood ref's record", first, flood)
			}
			floodRef = ref
		default:
			if first || !flood || ref != floodRef {
				t.Fatalf("source %d over the bound: ref %s first %v flood %v, want the flood ref %s", i, ref, first, flood, floodRef)
			}
		}
	}
	// A second later, newRecordsPerSecond new sources have refs of their
	// own again, the next one the flood ref (still in its window).
	clock.Add(time.Second)
	for i := 0; i <= newRecordsPerSecond; i++ {
		ref, first, flood := take()
		if i < newRecordsPerSecond && (!first || flood || ref == floodRef) || i == newRecordsPerSecond && (first || ref != floodRef) {
			t.Fatalf("new source %d in the next second: ref %s first %v flood %v", i, ref, first, flood)
		}
	}
	done := b.expire(clock.Now(), true)
	var floods int
	for _, f := range done {
		if f.Err.Ref == floodRef {
			floods++
			if !f.Flood || f.Count != 2*newRecordsPerSecond+1 {
				t.Errorf("the flood ref's follow-up: %+v, want Flood and Count %d", f, 2*newRecordsPerSecond+1)
			}
		}
	}
	if floods != 1 {
		t.Errorf("%d follow-ups of the flood ref, want 1: %+v", floods, done)
	}
}

// A flood of 1000 refused connections from one source is one record and
// one follow-up, and every client's ref is the one in them.
func TestConnectionFloodIsBounded(t *testing.T) {
	clock := newFakeClock()
	var mu sync.Mutex
	var got []Refusal
	srv, err := New(Config{Options: Options{Hostname: "mx.example.test", MaxConnections: 1}, Spool: &fileSpool{dir: t.TempDir()},
		Listeners: []Listener{{Kind: Inbound, Addr: "127.0.0.1:0", Policy: InboundPolicy{Directory: mapDirectory{}}}},
		OnRefusal: func(r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l := srv.listeners[0]
	refOf := regexp.MustCompile(`^421 4\.7\.0 .*\(ref ([A-Z2-7]{8})\)\r\n$`)
	refs := map[string]int{}
	for i := 0; i < 1000; i++ {
		ours, theirs := net.Pipe()
		reply := make(chan []byte)
		go func() { b, _ := io.ReadAll(theirs); reply <- b }()
		l.refuseConn(ours, "203.0.113.9", "total")
		m := refOf.FindStringSubmatch(string(<-reply))
		if m == nil {
			t.Fatalf("refused connection %d: no 421 with a ref", i)
		}
		refs[m[1]]++
		if i%100 == 99 {
			clock.Add(time.Second)
		}
	}
	srv.flushRefusals()
	if len(refs) != 1 || len(got) != 2 {
		t.Fatalf("1000 refused connections from one source within a minute: refs %v, %d observed, want one ref, one record and its follow-up", refs, len(got))
	}
	for ref := range refs {
		if got[0].Err.Ref != ref || got[0].Count != 0 || got[1].Err.Ref != ref || got[1].Count != 1000 ||
			!strings.Contains(got[0].Err.Reason, "max_connections") {
			t.Errorf("observed %+v and %+v, want the refusal of %s and its follow-up counting 1000", got[0], got[1], ref)
		}
	}
}

func TestReplyKindIgnoresAddressesAndRef(t *testing.T) {
	a := replyKind("rcpt", &Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "<a@example.test>: no such user (ref AAAAAAAA)"})
	b := replyKind("rcpt", &Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "<b@example.test>: no such user (ref BBBBBBBB)"})
	c := replyKind("rcpt", &Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "<b@example.test>: relay access denied (ref BBBBBBBB)"})
	if a != b || a == c {
		t.Errorf("kinds %q %q %q: want the first two alike, the third apart", a, b, c)
	}
	d := replyKind("rcpt", &Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "Relay access denied: one.example is not a domain hosted here (ref AAAAAAAA)"})
	e := replyKind("rcpt", &Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Message: "Relay access denied: two.example is not a domain hosted here (ref BBBBBBBB)"})
	f := replyKind("rcpt", &Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "<a b@example.test>: no such user (ref AAAAAAAA)"})
	if d != e || d == c || f != a {
		t.Errorf("kinds %q %q, %q %q: want relay probes to two domains alike, an address with a space like any other", d, e, f, a)
	}
	if r := replaceRef(&Reply{Code: 421, Message: "x (ref AAAAAAAA)"}, "BBBBBBBB"); r.Message != "x (ref BBBBBBBB)" {
		t.Errorf("replaceRef: %q", r.Message)
	}
}
