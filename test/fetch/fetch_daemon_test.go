package fetch

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// hangingServer accepts connections and never says a word.
func hangingServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// imapAppend appends msg to the user's INBOX over IMAP (LITERAL+), as
// another client or the provider's MTA would.
func imapAppend(t *testing.T, addr, user, pass string, msg []byte) {
	c := harness.DialIMAP(t, addr, user, pass)
	if _, err := c.Cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg)); err != nil {
		t.Fatal(err)
	}
}

// ebb serve runs the accounts: IMAP IDLE delivers a new message within
// seconds, while a second account whose server accepts and then hangs
// times out on its own (cause timeout in ebb fetch list) and never holds
// up the first.
func TestFetchDaemonIDLEWithAHangingAccount(t *testing.T) {
	// Not t.Parallel: it bounds IDLE push latency: alone.
	e := newFetchEnv(t, map[string]string{"alice": "pw-a"}, "max_accounts = 3\ninterval = \"1h\"\n[log]\nlevel = \"debug\"\n", false, "")
	e.Remote.Put(t, "alice", "INBOX", harness.RemoteMsgs(3, 1, "idle", 1000)...)
	e.add("pw-a", e.imapsArgs("idle", "alice", "alice@example.test")...)
	hang := hangingServer(t)
	e.add("x", "hang", "--server", hang, "--tls", "none", "--allow-plaintext", "--user", "x", "--to", "bob@example.test")
	e.add("x", "hang2", "--protocol", "pop3", "--server", hangingServer(t), "--tls", "none", "--allow-plaintext", "--user", "x", "--to", "bob@example.test")
	e.Start()
	e.WaitCount("alice", 3, 10*time.Second)
	fetchWait(t, 15*time.Second, "alice's session to be in IDLE", func() bool { return e.Remote.Idling("alice") })
	start := time.Now()
	imapAppend(t, e.Remote.IMAP, "alice", "pw-a", harness.TestMessage(50, "pushed", 500))
	e.WaitCount("alice", 4, 5*time.Second)
	took := time.Since(start)
	t.Logf("IDLE push delivered in %s", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("IDLE push took %s; log:\n%s", took, harness.Tail(e.Log(), 40))
	}
	imapAppend(t, e.Remote.IMAP, "alice", "pw-a", harness.TestMessage(51, "pushed", 500))
	e.WaitCount("alice", 5, 5*time.Second)
	if ids := e.localIDs("alice"); len(ids) != 5 || harness.DupCount(ids) != 0 {
		t.Fatalf("alice: %d distinct, %d duplicates; want 5, 0", len(ids), harness.DupCount(ids))
	}
	fetchWait(t, 15*time.Second, "the hanging accounts to time out", func() bool {
		r := e.fetch("list")
		return strings.Contains(r.Stdout, "FAILING (timeout") && strings.Count(r.Stdout, "FAILING (timeout") == 2
	})
	if l := e.listLine("idle"); !strings.Contains(l, "ok (") {
		t.Fatalf("the IDLE account: %s", l)
	}
	// The log line names the account and the server (issue 23).
	if !strings.Contains(e.Log(), `msg="fetch failed"`) || !strings.Contains(e.Log(), "cause=timeout") ||
		!strings.Contains(e.Log(), "account=hang server="+hang) {
		t.Fatalf("the log does not name the timeout:\n%s", harness.Tail(e.Log(), 20))
	}
	page := e.Scrape()
	if !strings.Contains(page, `ebb_fetch_attempts_total{account="hang",outcome="timeout"}`) || !strings.Contains(page, `ebb_fetch_messages_total{account="idle"} 5`) {
		t.Fatalf("metrics:\n%s", harness.GrepLines(page, "ebb_fetch"))
	}
}
