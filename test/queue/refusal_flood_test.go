package queue

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// A flood of refusals does not grow the journal at the flood's rate (the
// journal's bound, internal/smtpd/flood.go): 1000 connections refused
// from one source within a minute share one ref and one record, and the
// follow-up written as ebb serve stops says how many; every ref a client
// got opens in ebb explain with that count; a refusal of another kind
// (RCPT to unknown users, again and again) has its own ref.
func TestRefusalFloodSharesOneRef(t *testing.T) {
	t.Parallel()
	e := harness.NewQueueEnv(t, "")
	harness.SetTOML(t, e.Conf, "smtp.max_connections_per_ip", "1")
	harness.SetTOML(t, e.Conf, "smtp.command_timeout", `"5m"`)
	e.Start()
	hold, err := harness.ServeDial(e.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()

	refOf := regexp.MustCompile(`^421 4\.7\.0 mx\.example\.test Too many connections from your address, try again later \(ref ([A-Z2-7]{8})\)\r\n$`)
	const flood = 1000
	var mu sync.Mutex
	refs := map[string]int{}
	var bad []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100) // each refusal waits half a second for a slot first
	for i := 0; i < flood; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", e.SMTP, 30*time.Second)
			if err != nil {
				mu.Lock()
				bad = append(bad, err.Error())
				mu.Unlock()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			greet, _ := bufio.NewReader(c).ReadString('\n')
			mu.Lock()
			defer mu.Unlock()
			if m := refOf.FindStringSubmatch(greet); m != nil {
				refs[m[1]]++
			} else {
				bad = append(bad, greet)
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d connections not refused with a ref: %q", len(bad), flood, bad[0])
	}
	// The whole flood took well under a minute on a quiet machine; on a
	// loaded one it may span two windows: one ref per window.
	if len(refs) > 2 {
		t.Fatalf("1000 refused connections from one source got %d refs, want one per minute: %v", len(refs), refs)
	}

	// Another kind from the same source: RCPT to unknown users, each a
	// refusal, all one ref (the address is not the kind).
	var rcptRef string
	hold.Cmd("EHLO client.example.org")
	hold.Cmd("MAIL FROM:<alice@example.org>")
	for i := 0; i < 50; i++ {
		r := hold.Cmd("RCPT TO:<nobody" + strings.Repeat("x", i) + "@example.test>")
		m := regexp.MustCompile(`^5[0-9][0-9] .*\(ref ([A-Z2-7]{8})\)\r\n$`).FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("RCPT to an unknown user: %q", r)
		}
		if rcptRef == "" {
			rcptRef = m[1]
		} else if m[1] != rcptRef {
			t.Fatalf("RCPT %d to an unknown user: ref %s, want the first's %s", i+1, m[1], rcptRef)
		}
	}
	if refs[rcptRef] > 0 {
		t.Fatalf("RCPT refusals share the connection refusals' ref %s", rcptRef)
	}
	hold.Cmd("QUIT")
	e.Stop() // writes the follow-ups of the refs still shared

	b, err := os.ReadFile(filepath.Join(e.Dir, "data", "journal", time.Now().UTC().Format("2006-01-02")+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// One refusal and one follow-up per ref: a bounded journal.
	if n := bytes.Count(b, []byte("\n")); n > 2*(len(refs)+1) {
		t.Errorf("%d journal lines for %d refused connections and 50 refused recipients, want at most %d:\n%s", n, flood, 2*(len(refs)+1), b)
	}
	for ref, n := range refs {
		out := e.Ebb("explain", "-c", e.Conf, ref)
		t.Logf("ebb explain %s:\n%s", ref, out.Stdout)
		for _, w := range []string{"connection closed by ebb; from 127.0.0.1 on the inbound listener; replied 421 4.7.0", "smtp.max_connections_per_ip",
			"refused " + itoa(n) + " times in all under this ref between "} {
			if !strings.Contains(out.Stdout, w) {
				t.Errorf("explain %s (%d refusals) lacks %q:\n%s%s", ref, n, w, out.Stdout, out.Stderr)
			}
		}
	}
	out := e.Ebb("explain", "-c", e.Conf, rcptRef)
	for _, w := range []string{"refused at RCPT from <alice@example.org> for <nobody@example.test>", "refused 50 times in all under this ref"} {
		if !strings.Contains(out.Stdout, w) {
			t.Errorf("explain %s lacks %q:\n%s%s", rcptRef, w, out.Stdout, out.Stderr)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
