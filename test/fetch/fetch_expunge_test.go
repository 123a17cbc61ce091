package fetch

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// attemptsOK is ebb_fetch_attempts_total{account,outcome="ok"} on the
// metrics page.
func attemptsOK(page, account string) int {
	m := regexp.MustCompile(`ebb_fetch_attempts_total\{account="` + regexp.QuoteMeta(account) + `",outcome="ok"\} (\d+)`).FindStringSubmatch(page)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// imapLiteralRE is a client's literal announcement at the end of a line
// ({n} or {n+}).
var imapLiteralRE = regexp.MustCompile(`\{(\d+)\+?\}\r\n$`)

// imapRelay passes IMAP between ebb and upstream (plain TCP), and calls
// hook with each line ebb sends before it passes it on: what hook does
// happens before the server sees that command. ebb speaks IMAPS to it,
// with the remote's own certificate (certFile, keyFile: for 127.0.0.1).
// It returns the relay's address.
func imapRelay(t *testing.T, upstream, certFile, keyFile string, hook func(line string)) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go func() {
				io.Copy(c, u)
				c.Close()
			}()
			go func() {
				defer u.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					hook(line)
					if _, err := io.WriteString(u, line); err != nil {
						return
					}
					if m := imapLiteralRE.FindStringSubmatch(line); m != nil {
						n, _ := strconv.ParseInt(m[1], 10, 64)
						if _, err := io.CopyN(u, r, n); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// The done-when of issue 23: a remote that expunges during every pass —
// a second client (a phone) deleting a message as ebb fetches it, with
// --after delete, for 100 passes of ebb serve (IDLE) — never stops ebb
// serve, and each message arrives once.
//
// Each round appends two messages at once (MULTIAPPEND), one to keep and
// one for the phone. ebb reaches the remote over IMAPS through a relay (the
// remote's certificate, Dovecot behind it in plain IMAP) that sees its
// commands: when the pass that searched a round's messages asks for them
// (UID FETCH: the sizes on odd rounds, the bodies on even ones), the relay
// first lets the phone expunge its message on its own connection, so that
// every pass meets a message gone between its search and its fetch; then
// it appends the next round, whose EXISTS reaches ebb with the reply to
// that UID FETCH, during the pass: ebb must run the next pass at once
// rather than wait in IDLE for mail it was already told of. Every tenth
// round is appended while ebb is in IDLE instead (Dovecot's push). The
// rounds are paced by ebb's own passes: as much work on a loaded machine
// as on an idle one.
func TestFetchWhileAnotherClientExpunges(t *testing.T) {
	t.Parallel()
	const rounds = 100
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, "interval = \"1h\"\n", false, "")

	phone := harness.DialIMAP(t, e.Remote.IMAP, "alice", "pw-a")
	defer phone.Close()
	sender := harness.DialIMAP(t, e.Remote.IMAP, "alice", "pw-a")
	defer sender.Close()
	// expunge is the phone deleting every message it is meant to (EXPUNGE,
	// as a phone does); it returns how many.
	expunge := func() (int, error) {
		if _, err := phone.Cmd("SELECT INBOX"); err != nil {
			return 0, err
		}
		rs, err := phone.Cmd(`UID SEARCH SUBJECT "phone"`)
		if err != nil {
			return 0, err
		}
		var uids []string
		for _, r := range rs {
			if f := strings.Fields(r.Line); len(f) > 2 && f[1] == "SEARCH" {
				uids = append(uids, f[2:]...)
			}
		}
		if len(uids) == 0 {
			return 0, nil
		}
		if _, err := phone.Cmd("UID STORE " + strings.Join(uids, ",") + ` +FLAGS.SILENT (\Deleted)`); err != nil {
			return 0, err
		}
		if _, err := phone.Cmd("EXPUNGE"); err != nil {
			return 0, err
		}
		return len(uids), nil
	}
	var keep, taken []string
	// send appends round r's two messages.
	send := func(r int) error {
		k, p := harness.TestMessage(r, "keep", 600), harness.TestMessage(r, "phone", 600)
		keep = append(keep, string(harness.MessageIDRE.FindSubmatch(k)[1]))
		taken = append(taken, string(harness.MessageIDRE.FindSubmatch(p)[1]))
		_, err := sender.Cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s", len(k), k, len(p), p))
		return err
	}

	// The relay's state, under mu.
	var mu sync.Mutex
	pending := 0        // the round appended and not yet searched by ebb
	armed := 0          // the round ebb has searched: its UID FETCH sets the phone off
	done := 0           // rounds whose message the phone took during ebb's pass
	var bad []string    // what went wrong in the relay
	waitIdle := true    // the next IDLE is reported on idleC
	var idleEarly []int // rounds appended during a pass that ebb went into IDLE with
	idleC := make(chan struct{}, 1)
	relay := imapRelay(t, e.Remote.IMAP, e.Remote.CACert, filepath.Join(filepath.Dir(e.Remote.CACert), "key.pem"), func(line string) {
		up := strings.ToUpper(line)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.Contains(up, " UID SEARCH ") && pending != 0:
			armed, pending = pending, 0
		case strings.Contains(up, " UID FETCH ") && armed != 0 && strings.Contains(up, map[bool]string{true: "BODY.PEEK[]", false: "RFC822.SIZE"}[armed%2 == 0]):
			r := armed
			armed = 0
			n, err := expunge()
			if err != nil || n != 1 {
				bad = append(bad, fmt.Sprintf("round %d: the phone expunged %d messages (%v); want its one", r, n, err))
			}
			done++
			if r+1 > rounds || (r+1)%10 == 0 || err != nil {
				waitIdle = true
				return
			}
			if err := send(r + 1); err != nil {
				bad = append(bad, fmt.Sprintf("round %d: APPEND: %v", r+1, err))
				waitIdle = true
				return
			}
			pending = r + 1
		case strings.HasSuffix(up, " IDLE\r\n") && waitIdle:
			waitIdle = false
			idleC <- struct{}{}
		case strings.HasSuffix(up, " IDLE\r\n") && pending != 0:
			idleEarly = append(idleEarly, pending)
		}
	})
	e.add("pw-a", "busy", "--server", relay, "--ca-file", e.Remote.CACert, "--user", "alice", "--to", "alice@example.test", "--after", "delete")
	e.Start()

	// waitIdle waits for ebb serve in IDLE: gone, or a minute without it
	// (a stuck pass, or mail ebb was told of and waits for), ends the test.
	awaitIdle := func(what string) {
		t.Helper()
		select {
		case <-idleC:
		case <-e.Srv.Exited():
			t.Fatalf("ebb serve stopped (exit %d) %s; log:\n%s", e.Srv.ExitCode(), what, harness.Tail(e.Log(), 60))
		case <-time.After(time.Minute):
			mu.Lock()
			t.Errorf("%d rounds done; round %d appended, not searched yet; round %d searched, not fetched yet", done, pending, armed)
			if len(idleEarly) > 0 {
				t.Errorf("ebb went into IDLE although the EXISTS of these rounds came with the replies of its pass before: %v", idleEarly)
			}
			mu.Unlock()
			t.Fatalf("ebb serve not back in IDLE within a minute %s; log:\n%s", what, harness.Tail(e.Log(), 60))
		}
	}
	awaitIdle("after its first pass")
	start := time.Now()
	for {
		mu.Lock()
		r, problems := done+1, bad
		if r <= rounds && len(problems) == 0 {
			if err := send(r); err != nil {
				problems = append(problems, fmt.Sprintf("round %d: APPEND: %v", r, err))
			}
			pending = r
		}
		mu.Unlock()
		if len(problems) > 0 {
			t.Fatalf("%s", strings.Join(problems, "\n"))
		}
		if r > rounds {
			break
		}
		awaitIdle(fmt.Sprintf("after round %d", r))
	}
	passes := attemptsOK(e.Scrape(), "busy")
	t.Logf("%d rounds, %d passes in %s", done, passes, time.Since(start).Round(time.Millisecond))
	if passes < rounds+1 {
		t.Errorf("%d passes; want at least %d (one a round, and the first)", passes, rounds+1)
	}
	select {
	case <-e.Srv.Exited():
		t.Fatalf("ebb serve stopped (exit %d)", e.Srv.ExitCode())
	default:
	}
	// Every round's pass delivered its message to keep and deleted it on
	// the server before ebb went on.
	if ids := e.remoteIDs("alice", "INBOX"); len(ids) != 0 {
		t.Errorf("left on the server: %v", ids)
	}
	ids := e.localIDs("alice")
	for _, id := range keep {
		if ids[id] != 1 {
			t.Errorf("%s arrived %d times; want once", id, ids[id])
		}
	}
	// The phone took its message before ebb had it: it never arrives.
	for _, id := range taken {
		if ids[id] != 0 {
			t.Errorf("%s (expunged by the phone before ebb fetched it) arrived %d times", id, ids[id])
		}
	}
	log := e.Log()
	gone := 0
	for _, m := range regexp.MustCompile(`msg="messages gone from the server between the search and their fetch[^\n]* count=(\d+)`).FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		gone += n
	}
	if gone != rounds {
		t.Errorf("ebb logged %d messages gone between its search and its fetch; want %d (one a round)", gone, rounds)
	}
	if n := strings.Count(log, `msg="fetch failed"`); n != 0 {
		t.Errorf("%d failed passes; want none:\n%s", n, harness.Tail(log, 40))
	}
	if n := strings.Count(log, "panic"); n > 0 {
		t.Errorf("%d panics in the log; the first: %s", n, log[strings.Index(log, "panic"):][:min(2000, len(log)-strings.Index(log, "panic"))])
	}
	if l := e.listLine("busy"); strings.Contains(l, "skipped") {
		t.Errorf("a message was skipped: %s", l)
	}
}
