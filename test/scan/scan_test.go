package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/scan"
	"github.com/ebbmail/ebb/internal/servetest"
	"github.com/ebbmail/ebb/test/harness"
)

// Scanning at SMTP time against the real scanners (issue 13): spamd from
// Debian, clamd with a two-signature database, clamav-milter in front of
// the same clamd. Each verdict is the SMTP reply before the 250; every
// accepted message says in X-Ebb-Scan what was scanned.

func scanMsg(subject, body string) string {
	return "From: sender@example.org\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\nDate: " +
		time.Now().UTC().Format(time.RFC1123Z) + "\r\n" + body
}

// unfold joins folded header lines (RFC 5322 §2.2.3), LF or CRLF.
func scanUnfold(m string) string { return regexp.MustCompile(`\r?\n[ \t]+`).ReplaceAllString(m, " ") }

func mimeMsg(subject, text, attachName string, attach []byte) string {
	ctype := "application/octet-stream"
	if strings.HasSuffix(attachName, ".txt") {
		ctype = "text/plain"
	}
	b64 := base64.StdEncoding.EncodeToString(attach)
	var lines []string
	for len(b64) > 76 {
		lines, b64 = append(lines, b64[:76]), b64[76:]
	}
	lines = append(lines, b64)
	return scanMsg(subject, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"+
		"--b1\r\nContent-Type: text/plain\r\n\r\n"+text+"\r\n"+
		"--b1\r\nContent-Type: "+ctype+"; name=\""+attachName+"\"\r\nContent-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=\""+attachName+"\"\r\n\r\n"+strings.Join(lines, "\r\n")+"\r\n--b1--\r\n")
}

func scanZip(t *testing.T, name, content string) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, err := z.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(content))
	z.Close()
	return b.Bytes()
}

// smtpSend runs one transaction and returns the reply to the final dot
// ("" and the earlier reply if the transaction ended before).
func scanSend(t *testing.T, addr, rcpt, data string) string {
	t.Helper()
	return scanSendFrom(t, addr, "sender@example.org", rcpt, data)
}

// scanSendFrom is scanSend with the envelope sender from.
func scanSendFrom(t *testing.T, addr, from, rcpt, data string) string {
	t.Helper()
	c, err := harness.ServeDial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.C.SetDeadline(time.Now().Add(90 * time.Second))
	for _, l := range []string{"EHLO client.example.org", "MAIL FROM:<" + from + ">", "RCPT TO:<" + rcpt + ">"} {
		if r := c.Cmd(l); !strings.HasPrefix(r, "250") {
			return l + ": " + r
		}
	}
	if r := c.Cmd("DATA"); !strings.HasPrefix(r, "354") {
		return "DATA: " + r
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(data, "\r\n") {
		if strings.HasPrefix(line, ".") {
			b.WriteString(".")
		}
		b.WriteString(line)
	}
	if !strings.HasSuffix(data, "\r\n") {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	c.W.Write([]byte(b.String()))
	r, _ := c.Reply()
	c.Cmd("QUIT")
	return r
}

func TestScanVerdictsAtSMTPTime(t *testing.T) {
	t.Parallel()
	sa := harness.SharedSpamd(t)
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: harness.ScanConf(cl.Addr, sa.Addr, "spamd.max_size = \"100K\"")})
	gtube := harness.GTUBE()
	eicar := harness.EICAR()
	cases := []struct {
		name string
		data string
		want string // prefix of the reply
		has  string // and a part of it
	}{
		{"GTUBE in a plain message is refused as spam", scanMsg("gtube plain", "\r\n"+gtube+"\r\n"), "550 5.7.1", "spam"},
		{"GTUBE in a base64 MIME part is refused as spam", mimeMsg("gtube mime", "see attached", "note.txt", []byte(gtube+"\r\n")), "550 5.7.1", "spam"},
		{"EICAR in a plain message is refused with its name", scanMsg("eicar plain", "\r\n"+eicar+"\r\n"), "554 5.7.1", "Eicar-Test-Signature"},
		{"EICAR in a base64 MIME part is refused with its name", mimeMsg("eicar mime", "see attached", "eicar.com", []byte(eicar)), "554 5.7.1", "Eicar-Test-Signature"},
		{"EICAR zipped is refused with its name", mimeMsg("eicar zip", "see attached", "eicar.zip", scanZip(t, "eicar.com", eicar)), "554 5.7.1", "Eicar-Test-Signature"},
		{"ham is accepted", scanMsg("ham", "\r\nLunch at noon?\r\n"), "250", "queued"},
		{"over spamd's max_size is accepted and marked skipped", scanMsg("big", "\r\n"+strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 4000)), "250", "queued"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := scanSend(t, e.SMTP, "alice@example.test", tc.data)
			if !strings.HasPrefix(r, tc.want) || !strings.Contains(r, tc.has) {
				t.Errorf("reply %q, want %s ... %s\nlog:\n%s", r, tc.want, tc.has, harness.Tail(e.Log(), 20))
			}
		})
	}
	e.WaitCount("alice", 2, 15*time.Second)
	var ham, big string
	for _, m := range e.Messages("alice") {
		m = scanUnfold(m)
		switch {
		case strings.Contains(m, "Subject: ham"):
			ham = m
		case strings.Contains(m, "Subject: big"):
			big = m
		}
	}
	if !regexp.MustCompile(`X-Ebb-Scan: clamd=clean \(\d+\.\d\ds\); spamd=ham \(score -?\d+\.\d/5\.0, `).MatchString(ham) ||
		!strings.Contains(ham, "X-Spam-Status: No, score=") || strings.Contains(ham, "X-Spam-Flag") {
		t.Errorf("ham's scan headers are wrong:\n%s", ham)
	}
	if !regexp.MustCompile(`X-Ebb-Scan: clamd=clean \([^)]*\); spamd=skipped \(size \d+ > scan\.spamd\.max_size 102400\)`).MatchString(big) ||
		strings.Contains(big, "X-Spam-Status") {
		t.Errorf("the big message's coverage header does not say spamd skipped it with the limit:\n%.600s", big)
	}
	for _, want := range []string{`msg="smtp message refused"`, `code=554`, `Eicar-Test-Signature`, `code=550`,
		`msg="scan: message not scanned"`, `scanner=spamd status=skipped cause=size`} {
		if !strings.Contains(e.Log(), want) {
			t.Errorf("log lacks %q:\n%s", want, harness.Tail(e.Log(), 30))
		}
	}
	m := e.Scrape()
	for _, want := range []string{`ebb_scan_unscanned_total{cause="size",scanner="spamd"} 1`,
		`ebb_scan_results_total{scanner="clamd",status="virus"} 3`, `ebb_scan_verdicts_total{verdict="reject"} 5`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Refused messages leave no data in the spool (the accepted ones leave
	// it once delivered).
	harness.WaitFor(t, "the spool to empty (refused messages must leave no data there)", 15*time.Second,
		func() bool { return len(harness.SpoolFiles(t, e.Spool)) == 0 })
}

// With reject_score 0 spam is only tagged, in SpamAssassin's conventions.
func TestScanSpamTaggedWhenNotRefused(t *testing.T) {
	t.Parallel()
	sa := harness.SharedSpamd(t)
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: harness.ScanConf("", sa.Addr, "spamd.reject_score = 0")})
	if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("gtube tagged", "\r\n"+harness.GTUBE()+"\r\n")); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250", r)
	}
	e.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(e.Messages("alice")[0])
	// GTUBE scores about 1000 (999.0 to 1000.1 with the local rules).
	for _, want := range []string{`X-Spam-Flag: YES`, `X-Spam-Status: Yes, score=(999|1000)\.\d required=5\.0 tests=[^\n]*GTUBE`,
		`X-Spam-Score: (999|1000)\.\d`, `spamd=spam \(score (999|1000)\.\d/5\.0`} {
		if !regexp.MustCompile(want).MatchString(m) {
			t.Errorf("tagged message lacks %s:\n%.800s", want, m)
		}
	}
}

// A stopped clamd: 451 with the reason in the log and the metrics under the
// default policy; with on_failure = "accept" delivery with a header that
// says it was not scanned. After breaker_failures failures the breaker
// opens and clamd is not asked. A message over clamd's own limit is
// skipped, never called clean.
func TestScanClamdDownAndOverItsLimit(t *testing.T) {
	t.Parallel()
	cl := harness.StartClamd(t, harness.ClamdOptions{StreamMaxLength: "1M"})
	temp := harness.NewServeEnv(t, harness.ServeOpts{Extra: harness.ScanConf(cl.Addr, "", "")})
	accept := harness.NewServeEnv(t, harness.ServeOpts{Extra: harness.ScanConf(cl.Addr, "", "clamd.on_failure = \"accept\"")})
	big := scanMsg("over clamd", "\r\n"+strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 24000))

	if r := scanSend(t, temp.SMTP, "alice@example.test", big); !strings.HasPrefix(r, "451 4.7.1") || !strings.Contains(r, "scanner_limit") {
		t.Errorf("over clamd's StreamMaxLength with policy tempfail: %q, want 451 4.7.1 (scanner_limit)", r)
	}
	if r := scanSend(t, accept.SMTP, "alice@example.test", big); !strings.HasPrefix(r, "250") {
		t.Errorf("over clamd's StreamMaxLength with policy accept: %q, want 250", r)
	}
	cl.Stop()
	if r := scanSend(t, temp.SMTP, "alice@example.test", scanMsg("clamd down", "\r\nhello\r\n")); !strings.HasPrefix(r, "451 4.7.1") || !strings.Contains(r, "ref ") {
		t.Errorf("clamd stopped, policy tempfail: %q, want 451 4.7.1 with a reference id", r)
	}
	if r := scanSend(t, accept.SMTP, "alice@example.test", scanMsg("clamd down accepted", "\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
		t.Errorf("clamd stopped, policy accept: %q, want 250", r)
	}
	accept.WaitCount("alice", 2, 15*time.Second)
	for _, m := range accept.Messages("alice") {
		m = scanUnfold(m)
		switch {
		case strings.Contains(m, "Subject: over clamd"):
			if !strings.Contains(m, "X-Ebb-Scan: clamd=skipped (over clamd's StreamMaxLength; policy accept)") || strings.Contains(m, "clamd=clean") {
				t.Errorf("over clamd's limit: coverage header wrong:\n%.400s", m)
			}
		case strings.Contains(m, "Subject: clamd down accepted"):
			if !strings.Contains(m, "X-Ebb-Scan: clamd=unscanned (down; policy accept)") {
				t.Errorf("clamd down, accepted: coverage header wrong:\n%.400s", m)
			}
		}
	}
	for _, e := range []*harness.ServeEnv{temp, accept} {
		if !strings.Contains(e.Log(), `msg="scan: message not scanned"`) || !strings.Contains(e.Log(), "scanner=clamd status=failed cause=down") ||
			!strings.Contains(e.Log(), "connection refused") {
			t.Errorf("log (%d bytes at %s) lacks the not-scanned line with cause down and the error:\n%s", len(e.Log()), e.LogPath, scanLines(e.Log(), "scan"))
		}
		if m := e.Scrape(); !strings.Contains(m, `ebb_scan_unscanned_total{cause="down",scanner="clamd"} 1`) ||
			!strings.Contains(m, `ebb_scan_unscanned_total{cause="scanner_limit",scanner="clamd"} 1`) {
			t.Errorf("metrics lack the unscanned counts:\n%s", scanLines(m, "ebb_scan_"))
		}
	}
	if !strings.Contains(temp.Log(), "policy=tempfail") || !strings.Contains(accept.Log(), "policy=accept") {
		t.Errorf("the log does not name the policy that decided")
	}
	// Two more failures open the breaker (breaker_failures = 3): the next
	// message is answered without asking clamd.
	scanSend(t, temp.SMTP, "alice@example.test", scanMsg("down 2", "\r\nx\r\n"))
	scanSend(t, temp.SMTP, "alice@example.test", scanMsg("down 3", "\r\nx\r\n"))
	if r := scanSend(t, temp.SMTP, "alice@example.test", scanMsg("down 4", "\r\nx\r\n")); !strings.Contains(r, "451 4.7.1") || !strings.Contains(r, "breaker") {
		t.Errorf("with the breaker open: %q, want 451 naming the breaker", r)
	}
	if m := temp.Scrape(); !strings.Contains(m, `ebb_scan_breaker_open{scanner="clamd"} 1`) {
		t.Errorf("metrics do not show the open breaker:\n%s", scanLines(m, "ebb_scan_"))
	}
	// mailq and doctor, other processes, show it while it lasts.
	if r := harness.Run(t, exec.Command(harness.Ebb(t), "mailq", "-c", temp.Conf), nil); !strings.Contains(r.Stdout, "scanner clamd: not asked until") ||
		!strings.Contains(r.Stdout, "connection refused") {
		t.Errorf("mailq does not show the open breaker:\n%s%s", r.Stdout, r.Stderr)
	}
	if r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", temp.Conf), nil); !strings.Contains(r.Stdout, "its circuit breaker is open until") {
		t.Errorf("doctor does not show the open breaker:\n%s", scanLines(r.Stdout, "scan"))
	}
}

func scanLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// clamav-milter in front of the same clamd, through ebb's milter client.
func TestScanMilterClamavMilter(t *testing.T) {
	t.Parallel()
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	mi := harness.StartClamavMilter(t, cl)
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.milter]\naddresses = [\"inet:%s\"]\n", mi.Addr)})
	if r := scanSend(t, e.SMTP, "alice@example.test", mimeMsg("milter eicar", "see attached", "eicar.com", []byte(harness.EICAR()))); !strings.HasPrefix(r, "5") {
		t.Errorf("EICAR through clamav-milter: %q, want a 5xx\nlog:\n%s\nmilter:\n%s", r, harness.Tail(e.Log(), 10), mi.Log())
	}
	if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("milter clean", "\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
		t.Fatalf("clean mail through clamav-milter: %q, want 250\nlog:\n%s\nmilter:\n%s", r, harness.Tail(e.Log(), 10), mi.Log())
	}
	e.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(e.Messages("alice")[0])
	if !strings.Contains(m, "X-Virus-Status: Clean") || !regexp.MustCompile(`X-Ebb-Scan: milter:127\.0\.0\.1:\d+=clean`).MatchString(m) {
		t.Errorf("clean message lacks clamav-milter's header or the coverage header:\n%.600s", m)
	}
	if !strings.Contains(mi.Log(), "Eicar-Test-Signature") {
		t.Errorf("clamav-milter's log does not name the virus:\n%s", mi.Log())
	}
}

// A scanner that accepts the connection and never answers costs its
// timeout, then its policy decides; one that closes mid-reply is a
// protocol failure, never a verdict.
func TestScanScannerThatHangsOrCloses(t *testing.T) {
	t.Parallel()
	hang := scanFake(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // reads, never answers, until ebb hangs up
	cut := scanFake(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			if _, err := c.Read(make([]byte, 1<<16)); err != nil {
				break
			}
		}
		c.Write([]byte("SPAMD/1.1 0 EX_OK\r\nSpam: Tr"))
	})
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.clamd]\naddress = %q\ntimeout = \"1s\"\non_failure = \"accept\"\nconfig = \"\"\n[scan.spamd]\naddress = %q\n", hang, cut)})
	start := time.Now()
	if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("faults", "\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250 (both policies accept)", r)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the transaction took %s; clamd's timeout is 1s", d)
	}
	e.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(e.Messages("alice")[0])
	if !strings.Contains(m, "X-Ebb-Scan: clamd=unscanned (timeout; policy accept); spamd=unscanned (protocol; policy accept)") {
		t.Errorf("coverage header wrong:\n%.500s", m)
	}
	if met := e.Scrape(); !strings.Contains(met, `ebb_scan_unscanned_total{cause="timeout",scanner="clamd"} 1`) ||
		!strings.Contains(met, `ebb_scan_unscanned_total{cause="protocol",scanner="spamd"} 1`) {
		t.Errorf("metrics:\n%s", scanLines(met, "ebb_scan_unscanned"))
	}
}

func scanFake(t *testing.T, serve func(net.Conn)) string {
	return servetest.Serve(t, "127.0.0.1:0", serve).String()
}

// ebb doctor finds a scanner that is down before mail arrives, checks that
// clamd finds EICAR and spamd GTUBE, and compares clamd's StreamMaxLength
// with scan.clamd.max_size.
func TestScanDoctor(t *testing.T) {
	t.Parallel()
	sa := harness.SharedSpamd(t)
	cl := harness.StartClamd(t, harness.ClamdOptions{StreamMaxLength: "1M"})
	dir := harness.Dir(t)
	conf := filepath.Join(dir, "ebb.toml")
	// Every path in the test's directory and DNS on loopback: doctor as
	// root opens the directory database, and the defaults' /var/lib/ebb is
	// the machine's.
	os.WriteFile(conf, []byte(fmt.Sprintf("[server]\ndata_dir = %q\n[queue]\nspool = %q\n[mail]\nroot = %q\n"+
		"[scan.clamd]\naddress = %q\nconfig = %q\n[scan.spamd]\naddress = %q\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "spool"), filepath.Join(dir, "mail"), cl.Addr, cl.Conf(), sa.Addr)), 0o644)
	harness.LoopbackDNS(t, conf)
	r := harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", conf), nil)
	out := scanLines(r.Stdout, "scan")
	for _, want := range []string{"clamd answers", "clamd finds the EICAR test string (Eicar-Test-Signature", "spamd answers",
		"spamd finds the GTUBE test string (score 1000", "scan.clamd.max_size 26214400 > clamd's StreamMaxLength 1048576"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	cl.Stop()
	r = harness.Run(t, exec.Command(harness.Ebb(t), "doctor", "-c", conf), nil)
	if r.Code != 1 || !strings.Contains(r.Stdout, "cannot reach clamd "+cl.Addr) || !strings.Contains(r.Stdout, "connection refused") ||
		!strings.Contains(r.Stdout, `scan.clamd.on_failure = "tempfail"`) {
		t.Errorf("doctor with clamd down: exit %d, want 1 naming clamd, the error and the policy:\n%s", r.Code, scanLines(r.Stdout, "scan"))
	}
}

// kill -9 while a scanner is working on a message loses nothing: the
// client had no 250 and sends again, and after the restart the message is
// delivered once.
func TestScanKill9DuringScan(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	got := make(chan struct{}, 1)
	fake := scanFake(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			if _, err := c.Read(make([]byte, 1<<16)); err != nil {
				break
			}
		}
		if n.Add(1) == 1 {
			got <- struct{}{}
			c.SetReadDeadline(time.Time{})
			io.Copy(io.Discard, c) // the first scan never ends: no answer until ebb, killed, hangs up
			return
		}
		c.Write([]byte("SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\n"))
	})
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.spamd]\naddress = %q\ntimeout = \"30s\"\n", fake)})
	reply := make(chan string, 1)
	go func() { reply <- scanSend(t, e.SMTP, "alice@example.test", scanMsg("kill9", "\r\nhello\r\n")) }()
	select {
	case <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("the scanner never got the message")
	}
	e.Kill()
	if r := <-reply; strings.HasPrefix(r, "250") {
		t.Fatalf("the client got %q from a daemon killed mid-scan", r)
	}
	e.Start()
	if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("kill9", "\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
		t.Fatalf("resent after the restart: %q", r)
	}
	e.WaitCount("alice", 1, 15*time.Second)
	// Everything settled: the resent message is done, and the data file of
	// the killed scan must not be left in the spool (nor delivered).
	harness.WaitFor(t, "the spool to empty (the killed scan's data file must not be left there)", 15*time.Second,
		func() bool { return len(harness.SpoolFiles(t, e.Spool)) == 0 })
	if c := e.Count("alice"); c != 1 {
		t.Errorf("alice has %d copies, want 1", c)
	}
}

// Sieve files by ebb's scan headers (RFC 5235 spamtest and virustest):
// GTUBE tagged (reject_score 0) goes to Junk, ham that clamd found clean
// to Clean.
func TestScanSieveSpamtestAndVirustest(t *testing.T) {
	t.Parallel()
	sa := harness.SharedSpamd(t)
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: harness.ScanConf(cl.Addr, sa.Addr, "spamd.reject_score = 0")})
	home := filepath.Join(e.Dir, "mail", "example.test", "alice")
	os.MkdirAll(home, 0o755)
	script := `require ["spamtest", "virustest", "relational", "comparator-i;ascii-numeric", "fileinto"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; stop; }
if virustest :value "eq" :comparator "i;ascii-numeric" "1" { fileinto "Clean"; }
`
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	harness.Chown(t, filepath.Join(e.Dir, "mail"), e.User)
	for _, m := range []string{scanMsg("sieve gtube", "\r\n"+harness.GTUBE()+"\r\n"), scanMsg("sieve ham", "\r\nLunch?\r\n")} {
		if r := scanSend(t, e.SMTP, "alice@example.test", m); !strings.HasPrefix(r, "250") {
			t.Fatalf("reply %q", r)
		}
	}
	md := filepath.Join(home, "Maildir")
	junk, clean := filepath.Join(md, ".Junk", "new"), filepath.Join(md, ".Clean", "new")
	if harness.WaitOn(15*time.Second, func() bool {
		j, _ := os.ReadDir(junk)
		c, _ := os.ReadDir(clean)
		return len(j) == 1 && len(c) == 1
	}, junk, clean) {
		return
	}
	j, _ := os.ReadDir(filepath.Join(md, ".Junk", "new"))
	c, _ := os.ReadDir(filepath.Join(md, ".Clean", "new"))
	in, _ := os.ReadDir(filepath.Join(md, "new"))
	t.Errorf("Junk %d, Clean %d, INBOX %d; want 1, 1, 0\n%s", len(j), len(c), len(in), scanLines(e.Log(), "sieve"))
}

// rspamd's actions as ebb answers them: reject (GTUBE) 550 5.7.1 with
// rspamd's text, greylist/soft reject 451 4.7.1, no action delivered with
// the X-Rspamd-* headers.
func TestScanRspamdActions(t *testing.T) {
	t.Parallel()
	rs := harness.SharedRspamd(t)
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.rspamd]\naddress = %q\n", rs.Addr)})
	ham := "From: Sender <sender@example.org>\r\nTo: Alice <alice@example.test>\r\nSubject: lunch\r\nMessage-ID: <lunch.1@example.org>\r\nDate: " +
		time.Now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShall we have lunch at noon on Friday?\r\n"
	bare := "From: sender@example.org\r\nTo: someone@example.net\r\nSubject: hi\r\n\r\nhi\r\n" // no Date, no Message-ID, To not the recipient
	cases := []struct{ name, data, want, has string }{
		{"GTUBE is rspamd's reject", scanMsg("rspamd gtube", "\r\n"+harness.GTUBE()+"\r\n"), "550 5.7.1", "Gtube pattern"},
		{"a scored message is greylisted", bare, "451 4.7.1", "Greylisted"},
		{"ham is delivered", ham, "250", "queued"},
	}
	for _, tc := range cases {
		r := scanSend(t, e.SMTP, "alice@example.test", tc.data)
		if !strings.HasPrefix(r, tc.want) || !strings.Contains(r, tc.has) {
			t.Errorf("%s: reply %q, want %s ... %s\n%s", tc.name, r, tc.want, tc.has, scanLines(e.Log(), "scan"))
		}
	}
	e.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(e.Messages("alice")[0])
	for _, want := range []string{`X-Ebb-Scan: rspamd=ham \(score -?\d+\.\d/15\.0`, `X-Rspamd-Action: no action`, `X-Rspamd-Score: `, `X-Spam-Status: No, score=`} {
		if !regexp.MustCompile(want).MatchString(m) {
			t.Errorf("delivered message lacks %s:\n%.900s", want, m)
		}
	}
}

// Authenticated submission has its own policy (scan.submission): virus
// scanning on, spam scanning off by default. Port 25 scans both.
func TestScanSubmissionPolicy(t *testing.T) {
	t.Parallel()
	sa := harness.SharedSpamd(t)
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	e := harness.NewSubEnv(t, "\n"+harness.ScanConf(cl.Addr, sa.Addr, ""))
	auth := []string{"--server", e.Sub, "--tls", "--auth", "PLAIN", "--auth-user", "demo@example.test", "--auth-password", harness.DemoPass,
		"--from", "demo@example.test", "--to", "boss@example.test"}
	if r := harness.RunSwaks(t, append(auth, "--h-Subject", "sub gtube", "--body", harness.GTUBE())...); r.Code != 0 || !strings.Contains(r.Stdout, "250 2.0.0 Ok: queued") {
		t.Errorf("GTUBE from a logged-in user: exit %d, want 250 (spam off for submission):\n%s", r.Code, r.Stdout)
	}
	if r := harness.RunSwaks(t, append(auth, "--h-Subject", "sub eicar", "--body", harness.EICAR())...); !strings.Contains(r.Stdout, "554 5.7.1") || !strings.Contains(r.Stdout, "Eicar-Test-Signature") {
		t.Errorf("EICAR from a logged-in user: want 554 5.7.1 naming it (virus on for submission):\n%s", r.Stdout)
	}
	if r := harness.RunSwaks(t, "--server", e.SMTP, "--from", "x@example.org", "--to", "boss@example.test", "--h-Subject", "mx gtube", "--body", harness.GTUBE()); !strings.Contains(r.Stdout, "550 5.7.1") {
		t.Errorf("GTUBE on port 25: want 550 5.7.1:\n%s", r.Stdout)
	}
	m := scanUnfold(e.WaitMail("boss", 1)[0])
	if !regexp.MustCompile(`X-Ebb-Scan: clamd=clean \([^)]*\)\n`).MatchString(m) || strings.Contains(m, "spamd=") {
		t.Errorf("the submitted message's coverage header should name clamd only:\n%.500s", m)
	}
}

// Every scanner stopped: each ends as its policy says (clamd and milters
// tempfail, spamd and rspamd accept by default), and with every policy at
// accept the message is delivered with a header naming each one unscanned.
func TestScanAllScannersDown(t *testing.T) {
	t.Parallel()
	down := func() string { // a port nothing listens on, and no other test is handed
		return fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	}
	conf := func(extra string) string {
		return fmt.Sprintf("[scan.clamd]\naddress = %q\nconfig = \"\"\n%s[scan.spamd]\naddress = %q\n[scan.rspamd]\naddress = %q\n[scan.milter]\naddresses = [\"inet:%s\"]\n%s",
			down(), harness.ScanExtraFor(extra, "clamd"), down(), down(), down(), harness.ScanExtraFor(extra, "milter"))
	}
	def := harness.NewServeEnv(t, harness.ServeOpts{Extra: conf("")})
	open := harness.NewServeEnv(t, harness.ServeOpts{Extra: conf("clamd.on_failure = \"accept\"\nmilter.on_failure = \"accept\"")})
	if r := scanSend(t, def.SMTP, "alice@example.test", scanMsg("all down", "\r\nhello\r\n")); !strings.HasPrefix(r, "451 4.7.1") {
		t.Errorf("default policies: %q, want 451 4.7.1", r)
	}
	if r := scanSend(t, open.SMTP, "alice@example.test", scanMsg("all down open", "\r\nhello\r\n")); !strings.HasPrefix(r, "250") {
		t.Errorf("every policy accept: %q, want 250", r)
	}
	open.WaitCount("alice", 1, 15*time.Second)
	m := scanUnfold(open.Messages("alice")[0])
	if !regexp.MustCompile(`X-Ebb-Scan: clamd=unscanned \(down; policy accept\); milter:127\.0\.0\.1:\d+=unscanned \(down; policy accept\); spamd=unscanned \(down; policy accept\); rspamd=unscanned \(down; policy accept\)`).MatchString(m) {
		t.Errorf("coverage header:\n%.500s", m)
	}
	for _, e := range []*harness.ServeEnv{def, open} {
		met := e.Scrape()
		for _, s := range []string{"clamd", "spamd", "rspamd"} {
			if !strings.Contains(met, `ebb_scan_unscanned_total{cause="down",scanner="`+s+`"} 1`) {
				t.Errorf("metrics lack %s down:\n%s", s, scanLines(met, "ebb_scan_unscanned"))
			}
		}
		if n := strings.Count(e.Log(), `msg="scan: message not scanned"`); n != 4 {
			t.Errorf("%d not-scanned log lines, want 4 (one per scanner)", n)
		}
	}
	if !strings.Contains(def.Log(), "scanner=spamd status=failed cause=down detail=down policy=accept") ||
		!strings.Contains(def.Log(), "scanner=clamd status=failed cause=down detail=down policy=tempfail") {
		t.Errorf("the log does not name each scanner's policy:\n%s", scanLines(def.Log(), "scan"))
	}
}

// A milter's quarantine (clamav-milter OnInfected Quarantine) holds the
// message in the queue, where mailq shows it: accepted, not delivered.
func TestScanMilterQuarantineHolds(t *testing.T) {
	t.Parallel()
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	mi := harness.StartClamavMilter(t, cl, "Quarantine")
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: fmt.Sprintf("[scan.milter]\naddresses = [\"inet:%s\"]\n", mi.Addr)})
	if r := scanSend(t, e.SMTP, "alice@example.test", mimeMsg("quarantined", "see attached", "eicar.com", []byte(harness.EICAR()))); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q, want 250 (quarantine accepts)\n%s", r, mi.Log())
	}
	var r harness.Result
	harness.WaitFor(t, "mailq to show the message held", 15*time.Second, func() bool {
		r = harness.Run(t, exec.Command(harness.Ebb(t), "mailq", "-c", e.Conf), nil)
		return strings.Contains(strings.ToLower(r.Stdout), "held")
	})
	if n := e.Count("alice"); n != 0 {
		t.Errorf("the quarantined message was delivered (%d in alice's new/)", n)
	}
	if !strings.Contains(e.Log(), `msg="scan: message held"`) {
		t.Errorf("no log line for the hold:\n%s", scanLines(e.Log(), "scan"))
	}
}

// ebb scan FILE: each verdict with score and symbols, and the SMTP answer.
func TestScanCommand(t *testing.T) {
	t.Parallel()
	sa := harness.SharedSpamd(t)
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	dir := harness.Dir(t)
	conf := filepath.Join(dir, "ebb.toml")
	os.WriteFile(conf, []byte(harness.ScanConf(cl.Addr, sa.Addr, "")), 0o644)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o644)
		return p
	}
	cases := []struct {
		name, file string
		code       int
		want       []string
	}{
		{"GTUBE", write("gtube.eml", scanMsg("gtube", "\r\n"+harness.GTUBE()+"\r\n")), 1,
			[]string{"clamd    clean", "spamd    spam score ", "symbols: ", "GTUBE", "SMTP: 550 5.7.1 Message refused as spam", "(decided by spamd)",
				"spamd report:", "Generic Test for Unsolicited Bulk Email"}},
		{"EICAR", write("eicar.eml", scanMsg("eicar", "\r\n"+harness.EICAR()+"\r\n")), 1,
			[]string{"clamd    virus Eicar-Test-Signature", "SMTP: 554 5.7.1 Message refused: virus found: Eicar-Test-Signature"}},
		{"ham", write("ham.eml", scanMsg("ham", "\r\nLunch?\r\n")), 0,
			[]string{"clamd    clean", "spamd    ham score", "SMTP: 250 2.0.0", "header added:", "X-Ebb-Scan: clamd=clean"}},
	}
	for _, tc := range cases {
		r := harness.Run(t, exec.Command(harness.Ebb(t), "scan", "-c", conf, "--report", tc.file), nil)
		if r.Code != tc.code {
			t.Errorf("%s: exit %d, want %d:\n%s%s", tc.name, r.Code, tc.code, r.Stdout, r.Stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, r.Stdout)
			}
		}
	}
}

// One clamd session (IDSESSION) serves message after message; when clamd
// has closed it (here: a restart), the next message goes over a new one.
func TestScanClamdSessionReuse(t *testing.T) {
	t.Parallel()
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	c := &scan.Clamd{Addr: cl.Addr, Timeout: 10 * time.Second}
	eicar := &scan.Message{Body: scanMsg("eicar", "\r\n"+harness.EICAR()+"\r\n")}
	ham := &scan.Message{Body: scanMsg("ham", "\r\nhello\r\n")}
	for i := 0; i < 5; i++ {
		m, want := ham, scan.Clean
		if i%2 == 1 {
			m, want = eicar, scan.Infected
		}
		if r := c.Scan(context.Background(), m); r.Status != want {
			t.Fatalf("message %d: %s (%v), want %s", i, r.Status, r.Err, want)
		}
		if n := c.IdleSessions(); n != 1 {
			t.Fatalf("after message %d: %d idle sessions, want the one reused", i, n)
		}
	}
	// clamd closes the idle session. Its IdleTimeout does not do that
	// (the session was still open 90 s later: the 2.5 s this test once
	// slept for it never saw a close, and the next scan reused the open
	// session); a restart of clamd does, for certain.
	cl.Restart(t)
	harness.WaitFor(t, "the idle session to be closed by clamd's restart", 15*time.Second, func() bool { return !harness.Connected(cl.Addr) })
	if r := c.Scan(context.Background(), eicar); r.Status != scan.Infected {
		t.Fatalf("after clamd closed the session: %s (%v), want virus", r.Status, r.Err)
	}
	if n := c.IdleSessions(); n != 1 {
		t.Fatalf("after clamd closed the session: %d idle sessions, want the new one", n)
	}
}

// SIGHUP applies scan.* to the messages that arrive from then on.
func TestScanReloadAppliesPolicy(t *testing.T) {
	t.Parallel()
	cl := harness.StartClamd(t, harness.ClamdOptions{})
	e := harness.NewServeEnv(t, harness.ServeOpts{Extra: harness.ScanConf(cl.Addr, "", "clamd.on_failure = \"tempfail\"")})
	cl.Stop()
	if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("before reload", "\r\nx\r\n")); !strings.HasPrefix(r, "451 4.7.1") {
		t.Fatalf("before the reload: %q, want 451", r)
	}
	b, _ := os.ReadFile(e.Conf)
	os.WriteFile(e.Conf, []byte(strings.Replace(string(b), `on_failure = "tempfail"`, `on_failure = "accept"`, 1)), 0o644)
	e.Signal(syscall.SIGHUP)
	harness.WaitLogFile(t, e.LogPath, "configuration reloaded", 1, 10*time.Second)
	if r := scanSend(t, e.SMTP, "alice@example.test", scanMsg("after reload", "\r\nx\r\n")); !strings.HasPrefix(r, "250") {
		t.Fatalf("after the reload: %q, want 250 (policy accept)\n%s", r, scanLines(e.Log(), "reload"))
	}
	if !strings.Contains(e.Log(), `msg="reload: scanners rebuilt"`) || strings.Contains(e.Log(), "setting=scan.clamd.on_failure") {
		t.Errorf("the reload log does not say the scanners were rebuilt, or calls the change one needing a restart:\n%s", scanLines(e.Log(), "reload"))
	}
}
