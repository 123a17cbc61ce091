package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// smtp-source with 19 sessions at max_connections_per_ip = 20 (the
// default): every session ends with QUIT and the next one starts at once.
// A slot counted after its connection had ended refused some of them.
func TestLimitsNineteenSessionsAtTwentyPerIP(t *testing.T) {
	t.Parallel()
	// Without the SPF/DMARC checks: their DNS has no answer here, and the
	// test is about connection slots.
	e := harness.NewSubEnv(t, "\n[auth]\ncheck = false\n")
	src := harness.SMTPSource{Addr: e.SMTP, Messages: 400, Sessions: 19, Size: 512,
		From: "load@example.org", To: "boss@example.test"}
	start := time.Now()
	if r := src.Run(t); r.Code != 0 {
		t.Fatalf("%s: exit %d: %s%s", src, r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("%s in %v", src, time.Since(start).Round(time.Millisecond))
	if n := strings.Count(e.Log(), `msg="smtp connection refused"`); n != 0 {
		t.Errorf("%d connections refused with 19 sessions at a limit of 20", n)
	}
}

// BDAT past smtp.max_message_size: 552 5.3.4 at the chunk, the session goes
// on, and no partial file stays in the spool. Before, the refused chunk was
// read through the line limit and the connection was reset.
func TestLimitsBDATOverTheSizeLimitGets552(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnvWith(t, "", `max_message_size = "100K"`)
	c := harness.DialSMTP(t, "127.0.0.2", e.SMTP, false)
	c.Must(250, "EHLO client.example")
	c.Must(250, "MAIL FROM:<s@example.org>")
	c.Must(250, "RCPT TO:<demo@example.test>")
	fmt.Fprintf(c.Conn, "BDAT 60000\r\n")
	c.Conn.Write(bytes.Repeat([]byte("a"), 60000))
	if code, msg, err := c.Tp.ReadResponse(250); err != nil {
		t.Fatalf("first chunk: %d %s", code, msg)
	}
	fmt.Fprintf(c.Conn, "BDAT 300000 LAST\r\n")
	c.Conn.Write(bytes.Repeat([]byte("b"), 300000))
	code, msg, _ := c.Tp.ReadResponse(0)
	if code != 552 || !strings.HasPrefix(msg, "5.3.4") {
		t.Errorf("chunk past the limit: %d %s, want 552 5.3.4", code, msg)
	}
	if code, msg := c.Cmd("NOOP"); code != 250 {
		t.Errorf("NOOP after the refusal: %d %s: the session must go on", code, msg)
	}
	c.Must(250, "MAIL FROM:<s@example.org>")
	c.Must(250, "RCPT TO:<demo@example.test>")
	fmt.Fprintf(c.Conn, "BDAT 33\r\n")
	c.Conn.Write([]byte("From: s@example.org\r\nSubject: ok\r"))
	c.Expect(250)
	fmt.Fprintf(c.Conn, "BDAT 8 LAST\r\n")
	c.Conn.Write([]byte("\n\r\nsmall"))
	if code, msg, err := c.Tp.ReadResponse(250); err != nil {
		t.Errorf("a small message after the refusal: %d %s", code, msg)
	}
	e.WaitMail("demo", 1)
	harness.WaitLogFile(t, e.LogFile(), "msg=removed ", 1, 15*time.Second) // the small one is done
	if left := e.QueueFiles(); len(left) != 0 {
		t.Errorf("spool keeps %v", left)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.Spool, "queue")); len(ents) != 0 {
		var names []string
		for _, en := range ents {
			names = append(names, en.Name())
		}
		t.Errorf("spool queue/ keeps %v after the refused message", names)
	}
}

// The last smtp.reserved_connections slots are for submission.trusted_networks:
// idle strangers fill the rest, and local submission still gets in.
func TestLimitsReservedSlotsLetLocalSubmissionIn(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnvWith(t, "", "max_connections = 6\nreserved_connections = 2\nmax_connections_per_ip = 10")
	for i := 0; i < 4; i++ {
		harness.DialSMTP(t, fmt.Sprintf("127.0.0.%d", 2+i), e.SMTP, false) // idle, held open
	}
	c, err := serveDialFrom("127.0.0.9", e.SMTP)
	if err == nil || !strings.Contains(err.Error(), "421 4.7.0") {
		t.Errorf("a fifth stranger: %v, want 421 4.7.0 (the last 2 slots are reserved)", err)
	}
	if c != nil {
		c.Close()
	}
	local := harness.DialSMTP(t, "127.0.0.1", e.Sub, false) // trusted: submission.trusted_networks
	local.Must(250, "EHLO localhost")
	local.Must(250, "MAIL FROM:<demo@example.test>")
	local.Must(250, "RCPT TO:<boss@example.test>")
	if !strings.Contains(e.Log(), `msg="smtp connection refused" listener=inbound remote=127.0.0.9 reason=reserve`) {
		t.Errorf("the refusal is not logged with its reason:\n%s", harness.Tail(e.Log(), 20))
	}
}

// serveDialFrom connects from a local address; the error carries a
// greeting other than 220.
func serveDialFrom(local, addr string) (*harness.SmtpConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	s := &harness.SmtpConn{C: c, Br: bufio.NewReader(c), W: c}
	g, err := s.Reply()
	if err != nil || !strings.HasPrefix(g, "220") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	return s, nil
}

// Thirty RCPTs that the catch-all leads to one mailbox, and that mailbox
// itself and its alias: one copy is stored, not thirty-two.
func TestLimitsRcptFloodToACatchAllStoresOneCopy(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	e.EbbAsDaemon(nil, "alias", "add", "-c", e.Conf, "@example.test", "demo@example.test")
	c := harness.DialSMTP(t, "127.0.0.2", e.SMTP, false)
	c.Must(250, "EHLO client.example")
	c.Must(250, "MAIL FROM:<s@example.org>")
	for i := 0; i < 30; i++ {
		c.Must(250, fmt.Sprintf("RCPT TO:<x%d@example.test>", i))
	}
	c.Must(250, "RCPT TO:<demo@example.test>")
	c.Must(250, "RCPT TO:<info@example.test>")
	c.Must(354, "DATA")
	fmt.Fprintf(c.Conn, "From: s@example.org\r\nSubject: flood\r\n\r\none copy\r\n.\r\n")
	c.Expect(250)
	e.WaitMail("demo", 1)
	harness.WaitOn(10*time.Second, func() bool { return len(e.QueueFiles()) == 0 }, harness.QueueDir(e.Spool))
	if left := e.QueueFiles(); len(left) != 0 {
		t.Fatalf("the message is still queued: %s", e.Mailq())
	}
	if n := e.MailCount("demo"); n != 1 {
		t.Errorf("demo has %d copies of one message sent to 32 addresses that lead to it, want 1", n)
	}
}

// SIGHUP names every changed setting that it did not apply, with "needs a
// restart", found by comparing the configs key by key (so a section added
// later is covered); what it did apply is not named.
func TestLimitsSIGHUPNamesSettingsThatNeedARestart(t *testing.T) {
	t.Parallel()
	e := harness.NewSubEnv(t, "")
	b, err := os.ReadFile(e.Conf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for old, new := range map[string]string{
		"[mail]\nroot = ": "[mail]\ncreate_folders = false\nroot = ",
		"[queue]\n":       "[queue]\nworkers = 3\n",
		"[directory]\n":   "[directory]\ncache_ttl = \"1s\"\n",
		"[smtp]\n":        "[smtp]\nmax_connections = 150\ncommand_timeout = \"2m\"\n",
		"[metrics]\n":     "[metrics]\npprof = true\n",
		"[server]\nhostname = \"mx.example.test\"": "[server]\nhostname = \"mx2.example.test\"",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("config lacks %q", old)
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Srv.Signal(syscall.SIGHUP)
	harness.WaitLogFile(t, e.LogFile(), `msg="configuration reloaded"`, 1, 10*time.Second)
	log := e.Log()
	for _, k := range []string{"mail.create_folders", "queue.workers", "directory.cache_ttl", "metrics.pprof"} {
		if !strings.Contains(log, `msg="reload: setting changed but needs a restart; the running value stays" setting=`+k+" ") {
			t.Errorf("the log does not name %s as needing a restart:\n%s", k, harness.Tail(log, 20))
		}
	}
	for _, k := range []string{"smtp.max_connections", "smtp.command_timeout", "server.hostname"} {
		if strings.Contains(log, "setting="+k+" ") {
			t.Errorf("%s is applied at once, but the log says it needs a restart", k)
		}
	}
	if !strings.Contains(log, "needs_restart=4") {
		t.Errorf("the reload line does not count 4 settings needing a restart:\n%s", harness.Tail(log, 10))
	}
	// server.hostname is applied: the next greeting says the new name.
	c, err := net.Dial("tcp", e.SMTP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if code, msg, err := textproto.NewReader(bufio.NewReader(c)).ReadResponse(220); err != nil || !strings.HasPrefix(msg, "mx2.example.test") {
		t.Errorf("greeting after the reload: %d %s, want the new hostname", code, msg)
	}
}

// Go's profiler is served on the metrics port only with metrics.pprof = true.
func TestLimitsPprofIsOptIn(t *testing.T) {
	t.Parallel()
	get := func(addr, path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	off := harness.NewServeEnv(t, harness.ServeOpts{})
	if code := get(off.Metrics, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ by default: %d, want 404", code)
	}
	if code := get(off.Metrics, "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics: %d, want 200", code)
	}
	on := harness.NewServeEnv(t, harness.ServeOpts{Extra: "pprof = true\n"})
	if code := get(on.Metrics, "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with metrics.pprof = true: %d, want 200", code)
	}
}
