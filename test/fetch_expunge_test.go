package test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// The done-when of issue 23: a remote that expunges during every pass —
// a second client (a phone) deleting messages as ebb fetches, with
// --after delete, for 100 passes of ebb serve (IDLE) — never stops ebb
// serve, and each message arrives once: every message the phone left
// arrives exactly once, one it took arrives at most once, and in the end
// the server holds nothing.
func TestFetchWhileAnotherClientExpunges(t *testing.T) {
	t.Parallel()
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, "interval = \"1h\"\n", true, "")
	e.add("pw-a", e.imapsArgs("busy", "alice", "alice@example.test", "--after", "delete")...)

	var keep, taken []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var phoneDeleted atomic.Int64
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	// phone runs on one connection until an error or the stop: every
	// message whose subject says so is marked \Deleted and expunged
	// (EXPUNGE, as a phone does), as fast as it can.
	phone := func(c *harness.IMAP) {
		for !stopped() {
			if _, err := c.Cmd("SELECT INBOX"); err != nil {
				return
			}
			rs, err := c.Cmd(`UID SEARCH SUBJECT "phone"`)
			if err != nil {
				return
			}
			var uids []string
			for _, r := range rs {
				if f := strings.Fields(r.Line); len(f) > 2 && f[1] == "SEARCH" {
					uids = append(uids, f[2:]...)
				}
			}
			if len(uids) == 0 {
				continue
			}
			if _, err := c.Cmd("UID STORE " + strings.Join(uids, ",") + ` +FLAGS.SILENT (\Deleted)`); err != nil {
				return
			}
			if _, err := c.Cmd("EXPUNGE"); err != nil {
				return
			}
			phoneDeleted.Add(int64(len(uids)))
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stopped() {
			c := harness.DialIMAP(t, e.Remote.IMAP, "alice", "pw-a")
			phone(c)
			c.Close()
		}
	}()
	// The sender: one message to keep and one for the phone at a time.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := harness.DialIMAP(t, e.Remote.IMAP, "alice", "pw-a")
		defer c.Close()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := harness.TestMessage(i, "keep", 600)
			p := harness.TestMessage(i, "phone", 600)
			for _, m := range [][]byte{k, p} {
				if _, err := c.Cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m)); err != nil {
					t.Errorf("APPEND: %v", err)
					return
				}
			}
			mu.Lock()
			keep = append(keep, string(messageIDRE.FindSubmatch(k)[1]))
			taken = append(taken, string(messageIDRE.FindSubmatch(p)[1]))
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(240 * time.Second)
	passes := 0
	for passes < 100 {
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("%d passes in 4 minutes; log:\n%s", passes, tail(e.Log(), 40))
		}
		select {
		case <-e.srv.Exited():
			t.Fatalf("ebb serve stopped (exit %d); log:\n%s", e.srv.ExitCode(), tail(e.Log(), 60))
		case <-time.After(200 * time.Millisecond):
		}
		passes = attemptsOK(e.scrape(), "busy")
	}
	close(stop)
	wg.Wait()
	t.Logf("%d passes; %d messages sent to keep, the phone deleted %d", passes, len(keep), phoneDeleted.Load())

	// What is left arrives; then the server is empty.
	fetchWait(t, 60*time.Second, "every message to keep, and an empty server", func() bool {
		ids := e.localIDs("alice")
		for _, id := range keep {
			if ids[id] == 0 {
				return false
			}
		}
		return len(e.remoteIDs("alice", "INBOX")) == 0
	})
	select {
	case <-e.srv.Exited():
		t.Fatalf("ebb serve stopped (exit %d)", e.srv.ExitCode())
	default:
	}
	ids := e.localIDs("alice")
	for _, id := range keep {
		if ids[id] != 1 {
			t.Errorf("%s arrived %d times; want once", id, ids[id])
		}
	}
	for _, id := range taken {
		if ids[id] > 1 {
			t.Errorf("%s (taken by the phone) arrived %d times", id, ids[id])
		}
	}
	log := e.Log()
	t.Logf("in the log: %d batches with messages expunged between search and fetch, %d failed passes",
		strings.Count(log, "gone from the server between the search"), strings.Count(log, `msg="fetch failed"`))
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "panic") {
			t.Errorf("a panic in the log: %s", l)
		}
	}
	if l := e.listLine("busy"); strings.Contains(l, "skipped") {
		t.Errorf("a message was skipped: %s", l)
	}
}
