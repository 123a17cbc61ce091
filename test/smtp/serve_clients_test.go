package smtp

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/test/harness"
)

// Real SMTP clients deliver through ebb's own SMTP server
// (internal/smtpd): Postfix's smtp client relaying to ebb (PIPELINING,
// STARTTLS, AUTH PLAIN and LOGIN), msmtp (STARTTLS, implicit TLS, AUTH,
// DSN), swaks with PIPELINING, and smtp-source. None of them speaks
// CHUNKING (Postfix 3.7's client has no BDAT); BDAT is tested on the wire
// (internal/smtpd, TestLimitsBDATOverTheSizeLimitGets552).

// clientEnv is the submission environment with port 25 over STARTTLS too,
// and without the inbound SPF/DMARC checks (their DNS has no answer here;
// these tests are about the protocol).
func clientEnv(t *testing.T) *harness.SubEnv {
	t.Helper()
	cert, key := harness.WriteCert(t, harness.Dir(t))
	return harness.NewSubEnvWith(t, "\n[auth]\ncheck = false\n", fmt.Sprintf("tls_cert = %q\ntls_key = %q", cert, key))
}

// clientMessage is a message of about 100 KiB with the lines a server
// reader must get right: one that starts with a dot (Postfix stuffs it, the
// server removes the stuffing) and one that is only a dot.
func clientMessage(subject string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: demo@example.test\r\nTo: boss@example.test\r\nSubject: %s\r\nMessage-ID: <%s@pf.example>\r\n\r\n", subject, strings.ReplaceAll(subject, " ", "."))
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&b, "line %04d of the message, long enough to make it about a hundred KiB\r\n", i)
		if i == 700 {
			b.WriteString(".a line that starts with a dot\r\n.\r\n")
		}
	}
	return b.String()
}

// checkBody says what is wrong with a stored copy of clientMessage.
func checkBody(t *testing.T, stored string) {
	t.Helper()
	for _, want := range []string{"\n.a line that starts with a dot\n.\nline 0701", "line 1499 of the message"} {
		if !strings.Contains(stored, want) {
			t.Errorf("the stored message lacks %q", want)
		}
	}
}

// Postfix 3.7's smtp client relays to ebb's submission port through
// relayhost: STARTTLS (smtp_tls_security_level = encrypt), AUTH with
// Cyrus SASL, PIPELINING. Its debug log shows the commands it pipelined
// before the first reply, and its status=sent line quotes ebb's reply.
func TestClientsPostfixRelaysThroughSubmission(t *testing.T) {
	t.Parallel()
	e := clientEnv(t)
	_, port, _ := net.SplitHostPort(e.Sub)
	for i, mech := range []string{"plain", "login"} {
		t.Run(mech, func(t *testing.T) {
			passwd := filepath.Join(harness.Dir(t), "sasl_passwd")
			if err := os.WriteFile(passwd, []byte(fmt.Sprintf("[127.0.0.1]:%s demo@example.test:%s\n", port, harness.DemoPass)), 0o600); err != nil {
				t.Fatal(err)
			}
			pf := harness.StartPostfix(t, "", "pf.example", fmt.Sprintf(`relayhost = [127.0.0.1]:%s
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:%s
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_sasl_mechanism_filter = %s
debug_peer_list = 127.0.0.1
debug_peer_level = 2`, port, passwd, mech))
			subject := "through postfix " + mech
			if r := pf.Sendmail(t, "demo@example.test", []string{"boss@example.test"}, clientMessage(subject)); r.Code != 0 {
				t.Fatalf("postfix sendmail: %d %s", r.Code, r.Stderr)
			}
			log := pf.WaitLog(t, "status=", 60*time.Second)
			if !regexp.MustCompile(`to=<boss@example.test>, relay=127.0.0.1\[127.0.0.1\]:\d+, .*status=sent \(250 2.0.0 Ok: queued as \w+\)`).MatchString(log) {
				t.Fatalf("postfix did not relay:\n%s", linesWith(log, "status=", "warning", "error", "SASL"))
			}
			if !strings.Contains(log, "TLS connection established to 127.0.0.1[127.0.0.1]:"+port+": TLSv1.3") {
				t.Errorf("postfix's log shows no TLS session:\n%s", linesWith(log, "TLS"))
			}
			// Pipelining (RFC 2920): MAIL, RCPT and DATA went out before
			// the reply to MAIL came back.
			sent, got := strings.Index(log, ": DATA\n"), strings.Index(log, "< 127.0.0.1[127.0.0.1]:"+port+": 250 2.1.0 Sender <demo@example.test> ok")
			if sent < 0 || got < 0 || sent > got || !strings.Contains(log, "PIPELINING") {
				t.Errorf("postfix did not pipeline MAIL, RCPT, DATA (DATA at %d, the reply to MAIL at %d):\n%s", sent, got, linesWith(log, "> 127.0.0.1", "< 127.0.0.1"))
			}
			t.Logf("postfix's side of the conversation:\n%s", linesWith(log, "> 127.0.0.1[", "< 127.0.0.1[", "status="))
			if !strings.Contains(log, "< 127.0.0.1[127.0.0.1]:"+port+": 235 2.7.0 Authentication successful") {
				t.Errorf("no AUTH in postfix's log:\n%s", linesWith(log, "< 127.0.0.1", "SASL"))
			}
			msgs := e.WaitMailFor("boss", i+1, 60*time.Second)
			for _, m := range msgs {
				if strings.Contains(m, "Subject: "+subject) {
					checkBody(t, m)
					if !strings.Contains(m, "with ESMTPSA id") {
						t.Errorf("Received does not say ESMTPSA:\n%s", m[:min(len(m), 600)])
					}
					return
				}
			}
			t.Errorf("boss has no %q", subject)
		})
	}
}

// Postfix relays to ebb's port 25 as any MX client would: STARTTLS offered
// and taken (smtp_tls_security_level = may), no AUTH.
func TestClientsPostfixRelaysToPort25(t *testing.T) {
	t.Parallel()
	e := clientEnv(t)
	_, port, _ := net.SplitHostPort(e.SMTP)
	pf := harness.StartPostfix(t, "", "pf.example", fmt.Sprintf(`relayhost = [127.0.0.1]:%s
smtp_tls_security_level = may
smtp_tls_loglevel = 1`, port))
	if r := pf.Sendmail(t, "someone@pf.example", []string{"boss@example.test"}, strings.Replace(clientMessage("inbound from postfix"), "From: demo@example.test", "From: someone@pf.example", 1)); r.Code != 0 {
		t.Fatalf("postfix sendmail: %d %s", r.Code, r.Stderr)
	}
	log := pf.WaitLog(t, "status=", 60*time.Second)
	if !strings.Contains(log, "status=sent (250 2.0.0 Ok: queued as") || !strings.Contains(log, "TLS connection established to 127.0.0.1[127.0.0.1]:"+port) {
		t.Fatalf("postfix's log:\n%s", linesWith(log, "status=", "TLS", "warning"))
	}
	m := e.WaitMailFor("boss", 1, 60*time.Second)[0]
	checkBody(t, m)
	if !strings.Contains(m, "Return-Path: <someone@pf.example>") || !strings.Contains(m, "with ESMTPS id") {
		t.Errorf("stored:\n%s", m[:min(len(m), 600)])
	}
}

// msmtp 1.8 over STARTTLS (AUTH PLAIN and LOGIN), implicit TLS (465) and
// to port 25; with dsn_notify the DSN request reaches ebb, which sends
// the success notice back to the sender.
func TestClientsMsmtp(t *testing.T) {
	t.Parallel()
	harness.Install(t, "msmtp")
	e := clientEnv(t)
	dir := harness.Dir(t)
	conf := filepath.Join(dir, "msmtprc")
	hostPort := func(a string) (string, string) { h, p, _ := net.SplitHostPort(a); return h, p }
	subHost, subPort := hostPort(e.Sub)
	_, tlsPort := hostPort(e.SubTLS)
	_, smtpPort := hostPort(e.SMTP)
	rc := fmt.Sprintf(`defaults
tls on
tls_certcheck off
logfile %[1]s/msmtp.log

account plain
host %[2]s
port %[3]s
tls_starttls on
auth plain
user demo@example.test
password %[6]s
from demo@example.test
dsn_notify success,failure
dsn_return headers

account login : plain
auth login
dsn_notify off
dsn_return off

account implicit : login
port %[4]s
tls_starttls off

account inbound
host %[2]s
port %[5]s
tls_starttls on
auth off
from someone@elsewhere.example
`, dir, subHost, subPort, tlsPort, smtpPort, harness.DemoPass)
	if err := os.WriteFile(conf, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, account := range []string{"plain", "login", "implicit", "inbound"} {
		cmd := exec.Command("msmtp", "-C", conf, "-a", account, "boss@example.test")
		if r := harness.Run(t, cmd, []byte(strings.Replace(clientMessage("msmtp "+account), "Message-ID: <", "Message-ID: <"+account, 1))); r.Code != 0 {
			b, _ := os.ReadFile(filepath.Join(dir, "msmtp.log"))
			t.Fatalf("msmtp -a %s: exit %d %s\n%s", account, r.Code, r.Stderr, b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "msmtp.log"))
	if n := len(regexp.MustCompile(`smtpstatus=250 smtpmsg='250 2.0.0 Ok: queued as \w+' exitcode=EX_OK`).FindAllString(string(b), -1)); n != 4 {
		t.Errorf("msmtp's log shows %d messages queued, want 4:\n%s", n, b)
	}
	msgs := e.WaitMailFor("boss", 4, 60*time.Second)
	for _, m := range msgs {
		checkBody(t, m)
		proto := "ESMTPSA"
		if strings.Contains(m, "Subject: msmtp inbound") {
			proto = "ESMTPS"
		}
		if !strings.Contains(m, "with "+proto+" id") {
			t.Errorf("%s: Received does not say %s", mailHeader(m, "Subject"), proto)
		}
	}
	// NOTIFY=SUCCESS from the plain account: demo gets the notice.
	dsn := e.WaitMailFor("demo", 1, 30*time.Second)[0]
	if !strings.Contains(dsn, "Action: delivered") || !strings.Contains(dsn, "boss@example.test") {
		t.Errorf("success DSN:\n%s", dsn)
	}
}

// swaks with --pipeline: MAIL, RCPT and DATA go in one batch and get their
// replies in order; one recipient of three is refused in the batch.
func TestClientsSwaksPipelining(t *testing.T) {
	t.Parallel()
	e := clientEnv(t)
	r := harness.Swaks(t, "--server", e.SMTP, "--pipeline", "--from", "someone@elsewhere.example",
		"--to", "boss@example.test,nobody@example.test,demo@example.test", "--h-Subject", "pipelined")
	out := r.Stdout + r.Stderr
	// swaks prints the batch it sent, then the replies.
	batch := regexp.MustCompile(`(?s) -> MAIL FROM:<someone@elsewhere.example>\n -> RCPT TO:<boss@example.test>\n -> RCPT TO:<nobody@example.test>\n -> RCPT TO:<demo@example.test>\n -> DATA\n<-  250 2.1.0 Sender <someone@elsewhere.example> ok\n<-  250 2.1.5 Recipient <boss@example.test> ok\n<\*\* 550 5.1.1 <nobody@example.test>: no such user here \(ref \w+\)\n<-  250 2.1.5 Recipient <demo@example.test> ok\n<-  354 `)
	if !batch.MatchString(out) || !strings.Contains(out, "<-  250 2.0.0 Ok: queued as") {
		t.Errorf("swaks --pipeline:\n%s", out)
	}
	e.WaitMailFor("boss", 1, 30*time.Second)
	e.WaitMailFor("demo", 1, 30*time.Second)
}

// smtp-source: four sessions of five 64 KiB messages each over reused
// connections (RSET between messages) to port 25.
func TestClientsSMTPSource(t *testing.T) {
	t.Parallel()
	e := clientEnv(t)
	src := harness.SMTPSource{Addr: e.SMTP, Messages: 20, Sessions: 4, Size: 64 << 10, Reuse: true,
		From: "load@elsewhere.example", To: "boss@example.test", Subject: "from smtp-source"}
	if r := src.Run(t); r.Code != 0 {
		t.Fatalf("%s: exit %d: %s%s", src, r.Code, r.Stdout, r.Stderr)
	}
	for _, m := range e.WaitMailFor("boss", 20, 60*time.Second) {
		// smtp-source's body: -l octets of "La de da de da ..." lines.
		_, body, _ := strings.Cut(m, "\n\n")
		if n := len(strings.ReplaceAll(body, "\n", "\r\n")); n < 64<<10 {
			t.Errorf("a message of %d octets, want at least %d", n, 64<<10)
		}
	}
}

// linesWith is the lines of s that hold any of subs.
func linesWith(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
