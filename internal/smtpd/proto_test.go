package smtpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// protoRecorder is a Handler that writes down what the engine asks of it.
type protoRecorder struct {
	mu      sync.Mutex
	events  []string
	msgs    []string
	mailErr error
	dataErr error
	// read, when set, replaces io.ReadAll for Data.
	read  func(io.Reader) ([]byte, error)
	mechs []string
	tls   []bool // the TLS state at each Hello
	panic bool
}

func (r *protoRecorder) add(format string, a ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

func (r *protoRecorder) Hello(name string, st *tls.ConnectionState) error {
	if name == "refuse" {
		return &Reply{Code: 501, Enhanced: [3]int{5, 5, 2}, Message: "not you"}
	}
	r.mu.Lock()
	r.tls = append(r.tls, st != nil)
	r.mu.Unlock()
	r.add("HELLO %s", name)
	return nil
}

func (r *protoRecorder) Mail(from string, o *MailOptions) error {
	if r.panic {
		panic("handler bug")
	}
	r.add("MAIL %s %+v", from, *o)
	return r.mailErr
}

func (r *protoRecorder) Rcpt(to string, o *RcptOptions) error {
	if strings.HasPrefix(to, "no@") {
		return &Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "no such user"}
	}
	r.add("RCPT %s %+v", to, *o)
	return nil
}

func (r *protoRecorder) Data(rd io.Reader) error {
	read := r.read
	if read == nil {
		read = io.ReadAll
	}
	b, err := read(rd)
	r.mu.Lock()
	r.msgs = append(r.msgs, string(b))
	r.mu.Unlock()
	if err != nil {
		r.add("DATA error %v", err)
		return err
	}
	r.add("DATA %d", len(b))
	return r.dataErr
}

func (r *protoRecorder) Reset() { r.add("RESET") }

func (r *protoRecorder) AuthMechanisms() []string { return r.mechs }

func (r *protoRecorder) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user == "u" && pass == "p" {
			return nil
		}
		return &Reply{Code: 535, Enhanced: [3]int{5, 7, 8}, Message: "Authentication credentials invalid"}
	}
	if mech == "LOGIN" {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
}

func (r *protoRecorder) saw() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *protoRecorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// writeCounter counts the writes of the server to its connection.
type writeCounter struct {
	net.Conn
	n *atomic.Int32
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

type protoClient struct {
	t      *testing.T
	c      net.Conn
	tp     *textproto.Reader
	done   chan error
	writes atomic.Int32
}

// startProto serves one loopback connection with ServeConn.
func startProto(t *testing.T, h Handler, p *Protocol) *protoClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc := &protoClient{t: t, done: make(chan error, 1)}
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			pc.done <- err
			return
		}
		err = ServeConn(writeCounter{c, &pc.writes}, h, p)
		c.Close()
		pc.done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pc.c, pc.tp = c, textproto.NewReader(bufioReader(c))
	if g := pc.reply(); !strings.HasPrefix(g, "220 mx.test ESMTP") {
		t.Fatalf("greeting %q", g)
	}
	return pc
}

func (c *protoClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply as "code text" (lines joined with \n).
func (c *protoClient) reply() string {
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return "ERR " + err.Error()
	}
	return fmt.Sprintf("%d %s", code, msg)
}

func (c *protoClient) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

// expect reads one reply per prefix, in order.
func (c *protoClient) expect(prefixes ...string) {
	c.t.Helper()
	for _, p := range prefixes {
		if got := c.reply(); !strings.HasPrefix(got, p) {
			c.t.Fatalf("reply %q, want %q", got, p)
		}
	}
}

func testProtocol() *Protocol {
	return &Protocol{Hostname: "mx.test", MaxMessageBytes: 1000, MaxRecipients: 2,
		CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second}
}

// Pipelined commands (RFC 2920) get their replies in order, and the
// replies to a batch go out together, when the server has nothing more
// to read: not one write per reply.
func TestProtoPipelining(t *testing.T) {
	h := &protoRecorder{}
	c := startProto(t, h, testProtocol())
	before := c.writes.Load()
	c.send("EHLO client.test\r\nMAIL FROM:<s@a.test> BODY=8BITMIME SIZE=10\r\nRCPT TO:<r@b.test>\r\nRCPT TO:<no@b.test>\r\nDATA\r\n")
	c.expect("250 mx.test Hello client.test", "250 2.1.0 Sender <s@a.test> ok", "250 2.1.5 Recipient <r@b.test> ok",
		"550 5.1.1 no such user", "354 ")
	if n := c.writes.Load() - before; n != 1 {
		t.Errorf("%d writes for 5 pipelined replies, want 1", n)
	}
	c.send("Subject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n")
	c.expect("250 2.0.0 Ok: queued", "221 2.0.0 mx.test closing")
	if err := <-c.done; err != nil {
		t.Errorf("ServeConn: %v", err)
	}
	if m := h.messages(); len(m) != 1 || m[0] != "Subject: x\r\n\r\n.dot\r\n" {
		t.Errorf("message %q", m)
	}
	want := "HELLO client.test|RESET|MAIL s@a.test {Size:10 UTF8:false Body:8BITMIME Ret: EnvID: RequireTLS:false Auth:}|RCPT r@b.test {Notify:[] ORCPTType: ORCPT:}|DATA 20|RESET"
	if got := strings.Join(h.saw(), "|"); got != want {
		t.Errorf("handler saw\n%s\nwant\n%s", got, want)
	}
}

func TestProtoEHLO(t *testing.T) {
	c := startProto(t, &protoRecorder{mechs: []string{"PLAIN"}}, testProtocol())
	ehlo := c.cmd("EHLO c.test")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 1000", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING", "LIMITS RCPTMAX=2"} {
		if !strings.Contains(ehlo, "\n"+ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, ehlo)
		}
	}
	for _, ext := range []string{"STARTTLS", "AUTH", "REQUIRETLS", "BINARYMIME"} {
		if strings.Contains(ehlo, ext) {
			t.Errorf("EHLO offers %s in the clear without a certificate:\n%s", ext, ehlo)
		}
	}
	// Nothing in any reply names the implementation.
	for _, r := range []string{ehlo, c.cmd("HELO c.test"), c.cmd("NOOP"), c.cmd("HELP"), c.cmd("VRFY x"), c.cmd("RSET")} {
		if strings.Contains(strings.ToLower(r), "ebb") || strings.Contains(strings.ToLower(r), "go-smtp") {
			t.Errorf("reply names the implementation: %q", r)
		}
	}
}

// Sequence and syntax: RFC 5321 §4.1.4, §4.2.4, §4.1.1.11, RFC 1870.
func TestProtoRepliesToMistakes(t *testing.T) {
	cases := []struct{ name, cmds, want string }{
		{"MAIL before EHLO", "MAIL FROM:<s@a.test>", "503 5.5.1"},
		{"RCPT before MAIL", "EHLO c|RCPT TO:<r@b.test>", "503 5.5.1"},
		{"DATA before MAIL", "EHLO c|DATA", "503 5.5.1"},
		{"DATA without an accepted recipient", "EHLO c|MAIL FROM:<s@a.test>|RCPT TO:<no@b.test>|DATA", "554 5.5.1"},
		{"nested MAIL", "EHLO c|MAIL FROM:<s@a.test>|MAIL FROM:<t@a.test>", "503 5.5.1"},
		{"MAIL without FROM:", "EHLO c|MAIL <s@a.test>", "501 5.5.4"},
		{"an unclosed path", "EHLO c|MAIL FROM:<s@a.test", "501 5.1.7"},
		{"a local part without domain", "EHLO c|MAIL FROM:<s>", "501 5.1.7"},
		{"an empty domain", "EHLO c|MAIL FROM:<s@>", "501 5.1.7"},
		{"a bad recipient path", "EHLO c|MAIL FROM:<>|RCPT TO:<r@b.test", "501 5.1.3"},
		{"an unknown MAIL parameter", "EHLO c|MAIL FROM:<s@a.test> FOO=1", "555 5.5.4"},
		{"BINARYMIME is not offered", "EHLO c|MAIL FROM:<s@a.test> BODY=BINARYMIME", "555 5.5.4"},
		{"a bad BODY", "EHLO c|MAIL FROM:<s@a.test> BODY=9BIT", "501 5.5.4"},
		{"SIZE over the limit", "EHLO c|MAIL FROM:<s@a.test> SIZE=1001", "552 5.3.4"},
		{"SIZE of 20 digits", "EHLO c|MAIL FROM:<s@a.test> SIZE=99999999999999999999", "552 5.3.4"},
		{"SIZE not a number", "EHLO c|MAIL FROM:<s@a.test> SIZE=-1", "501 5.5.4"},
		{"SMTPUTF8 with a value", "EHLO c|MAIL FROM:<s@a.test> SMTPUTF8=yes", "501 5.5.4"},
		{"a bad ENVID", "EHLO c|MAIL FROM:<s@a.test> ENVID=a+2", "501 5.5.4"},
		{"NOTIFY=NEVER with others", "EHLO c|MAIL FROM:<>|RCPT TO:<r@b.test> NOTIFY=NEVER,DELAY", "501 5.5.4"},
		{"a bad ORCPT type", "EHLO c|MAIL FROM:<>|RCPT TO:<r@b.test> ORCPT=x400;a", "501 5.5.4"},
		{"an unknown RCPT parameter", "EHLO c|MAIL FROM:<>|RCPT TO:<r@b.test> BY=1;R", "555 5.5.4"},
		{"too many recipients", "EHLO c|MAIL FROM:<>|RCPT TO:<a@b.test>|RCPT TO:<c@b.test>|RCPT TO:<d@b.test>", "452 4.5.3"},
		{"DATA with an argument", "EHLO c|MAIL FROM:<>|RCPT TO:<a@b.test>|DATA x", "501 5.5.4"},
		{"an unknown command", "EHLO c|FROB", "500 5.5.2"},
		{"not a command", "EHLO c|\x00\x01", "500 5.5.2"},
		{"EXPN", "EXPN list", "502 5.5.1"},
		{"VRFY", "VRFY alice", "252 2.5.0"},
		{"HELO without a name", "HELO", "501 5.5.4"},
		{"a refused HELO", "EHLO refuse", "501 5.5.2 not you"},
		{"STARTTLS without a certificate", "EHLO c|STARTTLS", "502 5.5.1"},
		{"AUTH where none is offered", "EHLO c|AUTH PLAIN", "502 5.5.1"},
		{"a lower-case command, a tab, a space after the colon", "ehlo\tc|mail from: <s@a.test>", "250 2.1.0"},
		{"a path without brackets", "EHLO c|MAIL FROM:s@a.test SIZE=5", "250 2.1.0"},
		{"a source route", "EHLO c|MAIL FROM:<>|RCPT TO:<@x.test,@y.test:r@b.test>", "250 2.1.5 Recipient <r@b.test> ok"},
		{"the domainless postmaster (RFC 5321 §4.1.1.3)", "EHLO c|MAIL FROM:<>|RCPT TO:<PostMaster>", "250 2.1.5 Recipient <PostMaster> ok"},
		{"a quoted local part is unquoted", `EHLO c|MAIL FROM:<"a\"b c"@a.test>`, `250 2.1.0 Sender <a"b c@a.test> ok`},
		{"the null sender", "EHLO c|MAIL FROM:<>", "250 2.1.0 Sender <> ok"},
		{"a bare LF ends a command", "HELO c\nNOOP", "250 2.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startProto(t, &protoRecorder{}, testProtocol())
			var got string
			for _, l := range strings.Split(tc.cmds, "|") {
				got = c.cmd(l)
				for range strings.Count(l, "\n") {
					got = c.reply() // a bare LF ended a command
				}
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("%q: last reply %q, want %q", tc.cmds, got, tc.want)
			}
		})
	}
}

// DSN parameters are decoded (RFC 3461 §4, xtext; RFC 6533 for utf-8).
func TestProtoDSNParameters(t *testing.T) {
	h := &protoRecorder{}
	c := startProto(t, h, testProtocol())
	c.cmd("EHLO c")
	c.expect()
	for _, l := range []string{
		"MAIL FROM:<s@a.test> RET=hdrs ENVID=QQ+2B314 AUTH=<> SMTPUTF8",
		"RCPT TO:<r@b.test> NOTIFY=success,delay ORCPT=rfc822;Alice+40Example.TEST",
		`RCPT TO:<q@b.test> ORCPT=utf-8;j\x{FC}rgen@b.test`,
	} {
		if got := c.cmd(l); !strings.HasPrefix(got, "250") {
			t.Fatalf("%s: %q", l, got)
		}
	}
	saw := strings.Join(h.saw(), "|")
	for _, want := range []string{
		"MAIL s@a.test {Size:0 UTF8:true Body: Ret:HDRS EnvID:QQ+314 RequireTLS:false Auth:<>}",
		"RCPT r@b.test {Notify:[SUCCESS DELAY] ORCPTType:rfc822 ORCPT:Alice@Example.TEST}",
		"RCPT q@b.test {Notify:[] ORCPTType:utf-8 ORCPT:jürgen@b.test}",
	} {
		if !strings.Contains(saw, want) {
			t.Errorf("handler saw %s\nwant %s", saw, want)
		}
	}
}

// Four commands that are none end the connection (421).
func TestProtoTooManyErrors(t *testing.T) {
	c := startProto(t, &protoRecorder{}, testProtocol())
	c.send("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
	c.expect("500", "500", "500", "500", "421 4.7.0")
	if got := c.reply(); !strings.HasPrefix(got, "ERR") {
		t.Errorf("after 421: %q, want the connection closed", got)
	}
	<-c.done
}

// A message over the size limit is refused with 552 5.3.4 after its end,
// and so is one with a line over the line limit (500 5.5.6); the session
// goes on either way, and the handler has seen the refusal.
func TestProtoDataLimits(t *testing.T) {
	h := &protoRecorder{}
	p := testProtocol()
	p.MaxMessageBytes = 20000
	c := startProto(t, h, p)
	c.cmd("EHLO c")
	for _, tc := range []struct{ body, want string }{
		{strings.Repeat("0123456789\r\n", 2000), "552 5.3.4"},
		{strings.Repeat("x", maxLineLength+10) + "\r\n", "500 5.5.6"},
		{"fits\r\n", "250 2.0.0"},
	} {
		c.cmd("MAIL FROM:<s@a.test>")
		c.cmd("RCPT TO:<r@b.test>")
		c.cmd("DATA")
		if got := c.cmd(tc.body + "."); !strings.HasPrefix(got, tc.want) {
			t.Errorf("reply %q, want %s", got, tc.want)
		}
		if got := c.cmd("NOOP"); !strings.HasPrefix(got, "250") {
			t.Fatalf("NOOP after the message: %q", got)
		}
	}
	if !strings.Contains(strings.Join(h.saw(), "|"), "DATA error 552 5.3.4") {
		t.Errorf("the handler did not see the size refusal: %v", h.saw())
	}
}

// CHUNKING (RFC 3030): chunks pipelined with their commands, a NOOP
// between chunks, BDAT 0 LAST, and refusals.
func TestProtoBDAT(t *testing.T) {
	t.Run("pipelined chunks make one message", func(t *testing.T) {
		h := &protoRecorder{}
		c := startProto(t, h, testProtocol())
		c.send("EHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<r@b.test>\r\nBDAT 6\r\nline1\nBDAT 5\r\n.\r\n\r\nNOOP\r\nBDAT 0 LAST\r\nQUIT\r\n")
		c.expect("250", "250 2.1.0", "250 2.1.5", "250 2.0.0 6 octets", "250 2.0.0 5 octets", "250 2.0.0 Ok", "250 2.0.0 Ok: queued", "221")
		if m := h.messages(); len(m) != 1 || m[0] != "line1\r\n.\r\n\r\n" {
			t.Errorf("message %q: chunks are taken as they are (no dot, no line ends), but for the bare LF made CRLF", m)
		}
	})
	t.Run("RSET leaves the transfer without a reply to the message", func(t *testing.T) {
		h := &protoRecorder{}
		c := startProto(t, h, testProtocol())
		c.send("EHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<r@b.test>\r\nBDAT 3\r\nabcMAIL FROM:<x@a.test>\r\nRSET\r\nMAIL FROM:<y@a.test>\r\n")
		c.expect("250", "250 2.1.0", "250 2.1.5", "250 2.0.0 3 octets", "503 5.5.1", "250 2.0.0 Ok", "250 2.1.0 Sender <y@a.test>")
		if saw := strings.Join(h.saw(), "|"); !strings.Contains(saw, "DATA error "+errAborted.Error()) {
			t.Errorf("the handler saw %s", saw)
		}
	})
	t.Run("the chunk that passes the limit is read and refused, the session goes on", func(t *testing.T) {
		h := &protoRecorder{}
		c := startProto(t, h, testProtocol())
		big := strings.Repeat("y", 600)
		c.send("EHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<r@b.test>\r\nBDAT 600\r\n" + big + "BDAT 600 LAST\r\n" + big + "NOOP\r\n")
		c.expect("250", "250", "250", "250 2.0.0 600 octets", "552 5.3.4", "250 2.0.0 Ok")
	})
	t.Run("a chunk without a transaction is skipped whatever it holds", func(t *testing.T) {
		h := &protoRecorder{}
		c := startProto(t, h, testProtocol())
		c.send("EHLO c\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
		c.expect("250", "503 5.5.1", "250 2.0.0 Ok")
	})
	t.Run("a handler that stops early: the rest of the chunk is skipped", func(t *testing.T) {
		h := &protoRecorder{read: func(r io.Reader) ([]byte, error) {
			b := make([]byte, 2)
			n, _ := io.ReadFull(r, b)
			return b[:n], &Reply{Code: 554, Enhanced: [3]int{5, 6, 0}, Message: "not this"}
		}}
		c := startProto(t, h, testProtocol())
		c.send("EHLO c\r\nMAIL FROM:<s@a.test>\r\nRCPT TO:<r@b.test>\r\nBDAT 10\r\n0123456789BDAT 3 LAST\r\nabcNOOP\r\n")
		c.expect("250", "250", "250", "554 5.6.0 not this", "503 5.5.1", "250 2.0.0 Ok")
	})
}

func TestProtoAuth(t *testing.T) {
	plain := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte("\x00" + u + "\x00" + p)) }
	p := testProtocol()
	p.AuthInClear = true
	t.Run("PLAIN with an initial response", func(t *testing.T) {
		c := startProto(t, &protoRecorder{mechs: []string{"PLAIN", "LOGIN"}}, p)
		if ehlo := c.cmd("EHLO c"); !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
			t.Errorf("EHLO %s", ehlo)
		}
		if got := c.cmd("AUTH PLAIN " + plain("u", "x")); !strings.HasPrefix(got, "535 5.7.8") {
			t.Errorf("wrong password: %q", got)
		}
		if got := c.cmd("AUTH plain " + plain("u", "p")); !strings.HasPrefix(got, "235 2.7.0") {
			t.Errorf("right password: %q", got)
		}
		if got := c.cmd("AUTH PLAIN " + plain("u", "p")); !strings.HasPrefix(got, "503 5.5.1") {
			t.Errorf("AUTH again: %q", got)
		}
	})
	for _, tc := range []struct{ name, cmds, want string }{
		// RFC 4954 §4: a response that is not base64 is 501, not 454.
		{"invalid base64 as initial response", "AUTH PLAIN !!!", "501 5.5.2"},
		{"invalid base64 in the exchange", "AUTH LOGIN|dQ==|#$%", "501 5.5.2"},
		{"cancelled", "AUTH LOGIN|*", "501 5.0.0"},
		{"LOGIN", "AUTH LOGIN|dQ==|cA==", "235 2.7.0"},
		{"PLAIN without initial response", "AUTH PLAIN|" + plain("u", "p"), "235 2.7.0"},
		{"a malformed PLAIN message", "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("u")), "501 5.5.2"},
		{"a mechanism not offered", "AUTH CRAM-MD5", "504 5.5.4"},
		{"during a transaction", "MAIL FROM:<s@a.test>|AUTH PLAIN " + plain("u", "p"), "503 5.5.1"},
		{"no mechanism", "AUTH", "501 5.5.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startProto(t, &protoRecorder{mechs: []string{"PLAIN", "LOGIN"}}, p)
			c.cmd("EHLO c")
			var got string
			for _, l := range strings.Split(tc.cmds, "|") {
				got = c.cmd(l)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("last reply %q, want %s", got, tc.want)
			}
			if got := c.cmd("NOOP"); !strings.HasPrefix(got, "250") {
				t.Errorf("NOOP after: %q", got)
			}
		})
	}
	t.Run("not before TLS", func(t *testing.T) {
		c := startProto(t, &protoRecorder{mechs: []string{"PLAIN"}}, testProtocol())
		if ehlo := c.cmd("EHLO c"); strings.Contains(ehlo, "AUTH") {
			t.Errorf("AUTH offered in the clear: %s", ehlo)
		}
		if got := c.cmd("AUTH PLAIN " + plain("u", "p")); !strings.HasPrefix(got, "523 5.7.10") || !strings.Contains(got, "TLS is required") {
			t.Errorf("AUTH in the clear: %q", got)
		}
	})
}

// STARTTLS (RFC 3207): what the client pipelines after STARTTLS in the
// clear is thrown away (CVE-2011-0411); after the handshake the client
// greets again, and AUTH and REQUIRETLS are offered.
func TestProtoSTARTTLS(t *testing.T) {
	h := &protoRecorder{mechs: []string{"PLAIN"}}
	p := testProtocol()
	certs := selfSigned(t, "mx.test")
	p.TLS = &tls.Config{GetCertificate: certs.get}
	c := startProto(t, h, p)
	if ehlo := c.cmd("EHLO c"); !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "REQUIRETLS") {
		t.Fatalf("EHLO in the clear:\n%s", ehlo)
	}
	if got := c.cmd("STARTTLS now"); !strings.HasPrefix(got, "501 5.5.4") {
		t.Errorf("STARTTLS with an argument: %q", got)
	}
	c.send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
	c.expect("220 2.0.0")
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.c, c.tp = tc, textproto.NewReader(bufioReader(tc))
	if got := c.cmd("MAIL FROM:<s@a.test>"); !strings.HasPrefix(got, "503 5.5.1") {
		t.Errorf("MAIL right after the handshake: %q, want 503 (greet again)", got)
	}
	ehlo := c.cmd("EHLO c")
	for _, want := range []string{"AUTH PLAIN", "REQUIRETLS"} {
		if !strings.Contains(ehlo, want) {
			t.Errorf("EHLO over TLS lacks %s:\n%s", want, ehlo)
		}
	}
	if strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS offered over TLS:\n%s", ehlo)
	}
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got, "503 5.5.1") {
		t.Errorf("STARTTLS again: %q", got)
	}
	c.cmd("QUIT")
	for _, e := range h.saw() {
		if strings.Contains(e, "injected") {
			t.Errorf("the command pipelined after STARTTLS reached the handler: %v", h.saw())
		}
	}
	if fmt.Sprint(h.tls) != "[false true]" {
		t.Errorf("TLS state at each Hello: %v", h.tls)
	}
}

func TestProtoLineAndTimeoutEndTheConnection(t *testing.T) {
	t.Run("a command line over the limit", func(t *testing.T) {
		c := startProto(t, &protoRecorder{}, testProtocol())
		c.send("EHLO " + strings.Repeat("a", maxLineLength) + "\r\n")
		c.expect("500 5.5.2 Line longer than 8192 octets")
		if got := c.reply(); !strings.HasPrefix(got, "ERR") {
			t.Errorf("after a too long line: %q, want closed", got)
		}
	})
	t.Run("an idle client", func(t *testing.T) {
		p := testProtocol()
		p.CommandTimeout = 200 * time.Millisecond
		c := startProto(t, &protoRecorder{}, p)
		c.expect("421 4.4.2")
		if err := <-c.done; err == nil {
			t.Errorf("ServeConn returned nil after a timeout")
		}
	})
	t.Run("a client that stops in the middle of a message", func(t *testing.T) {
		p := testProtocol()
		p.DataTimeout = 200 * time.Millisecond
		h := &protoRecorder{}
		c := startProto(t, h, p)
		c.send("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<r@b.test>\r\nDATA\r\nSubject: x\r\n")
		c.expect("250", "250", "250", "354", "421 4.4.2")
		if saw := strings.Join(h.saw(), "|"); !strings.Contains(saw, "DATA error") {
			t.Errorf("the handler saw %s", saw)
		}
	})
}

// A panicking handler ends its connection with 421, not the server.
func TestProtoHandlerPanic(t *testing.T) {
	c := startProto(t, &protoRecorder{panic: true}, testProtocol())
	c.cmd("EHLO c")
	if got := c.cmd("MAIL FROM:<s@a.test>"); !strings.HasPrefix(got, "421 4.3.0") {
		t.Errorf("reply %q", got)
	}
	if err := <-c.done; err == nil || !strings.Contains(err.Error(), "handler bug") {
		t.Errorf("ServeConn: %v", err)
	}
}

// A handler's reply text cannot break the protocol: line ends split it
// into lines, control characters are shown as "?".
func TestProtoReplyTextIsSafe(t *testing.T) {
	h := &protoRecorder{mailErr: &Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "one\r\ntwo\x00\x1b"}}
	c := startProto(t, h, testProtocol())
	c.cmd("EHLO c")
	c.send("MAIL FROM:<s@a.test>\r\n")
	line1, _ := c.tp.ReadLine()
	line2, _ := c.tp.ReadLine()
	if line1 != "550-5.7.1 one?" || line2 != "550 5.7.1 two??" {
		t.Errorf("reply lines %q %q", line1, line2)
	}
	h.mailErr = errors.New("/var/spool/secret: permission denied")
	if got := c.cmd("MAIL FROM:<s@a.test>"); !strings.HasPrefix(got, "451 4.3.0") || strings.Contains(got, "/") {
		t.Errorf("a plain error: %q, want 451 4.3.0 without its text", got)
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// A server played without 8BITMIME (a relay test's peer) neither offers
// it nor takes BODY=8BITMIME (RFC 6152 §3).
func TestProtoWithout8BITMIME(t *testing.T) {
	p := testProtocol()
	p.No8BITMIME = true
	c := startProto(t, &protoRecorder{}, p)
	if ehlo := c.cmd("EHLO c"); strings.Contains(ehlo, "8BITMIME") {
		t.Errorf("EHLO offers 8BITMIME:\n%s", ehlo)
	}
	if got := c.cmd("MAIL FROM:<s@a.test> BODY=8BITMIME"); !strings.HasPrefix(got, "555 5.5.4") {
		t.Errorf("BODY=8BITMIME: %q", got)
	}
	if got := c.cmd("MAIL FROM:<s@a.test> BODY=7BIT"); !strings.HasPrefix(got, "250") {
		t.Errorf("BODY=7BIT: %q", got)
	}
}

// A reply is written as the fmt-based writer wrote it: "%03d%c%s\r\n" per
// line, the enhanced code ("%d.%d.%d ") on each line of a send, the
// default X.0.0 for 2xx/4xx/5xx, text made safe.
func TestRepliesWrittenAsBefore(t *testing.T) {
	old := func(r *Reply) string {
		enh := r.Enhanced
		if enh == [3]int{} && (r.Code/100 == 2 || r.Code/100 == 4 || r.Code/100 == 5) {
			enh = [3]int{r.Code / 100, 0, 0}
		}
		lines := strings.Split(r.Message, "\n")
		var b strings.Builder
		for i, l := range lines {
			l = replyText(l)
			if enh != [3]int{} {
				l = fmt.Sprintf("%d.%d.%d %s", enh[0], enh[1], enh[2], l)
			}
			sep := byte('-')
			if i == len(lines)-1 {
				sep = ' '
			}
			fmt.Fprintf(&b, "%03d%c%s\r\n", r.Code, sep, l)
		}
		return b.String()
	}
	for _, r := range []*Reply{
		{Code: 250, Message: "Ok"},
		{Code: 250, Enhanced: [3]int{2, 1, 5}, Message: "Recipient <a@b> ok"},
		{Code: 550, Enhanced: [3]int{5, 7, 23}, Message: "first\nsecond\n"},
		{Code: 354, Message: "End data with <CR><LF>.<CR><LF>"},
		{Code: 421, Message: "bye\r\x00\x7f \xff tab\there"},
		{Code: 0, Message: ""},
		{Code: 1000, Enhanced: [3]int{10, 200, 3000}, Message: "odd"},
		{Code: -5, Message: "negative"},
	} {
		var out bytes.Buffer
		w := &wire{p: &Protocol{}, bw: bufio.NewWriter(&out)}
		w.send(r)
		w.bw.Flush()
		if want := old(r); out.String() != want {
			t.Errorf("%+v: wrote %q, want %q", r, out.String(), want)
		}
		if w.quit != (r.Code == 421) {
			t.Errorf("%+v: quit %v", r, w.quit)
		}
	}
	var out bytes.Buffer
	w := &wire{p: &Protocol{}, bw: bufio.NewWriter(&out)}
	w.lines(250, "mx Hello", "PIPELINING", "SIZE 10")
	w.bw.Flush()
	if out.String() != "250-mx Hello\r\n250-PIPELINING\r\n250 SIZE 10\r\n" {
		t.Errorf("lines: %q", out.String())
	}
}
