package smtpd

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzCommandParser: any command line splits without a panic into an
// upper-case verb of letters, digits and "-"; any MAIL or RCPT argument
// gives a path (and its parameters) or an error, and a path that parses
// again from "<path>" is the same path.
func FuzzCommandParser(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<s@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8",
		"RCPT TO:<@a,@b:alice@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+40b",
		`mail from:<"a\"b c"@x> RET=HDRS ENVID=x+2By AUTH=<>`,
		"RCPT TO:<Postmaster>", "RCPT TO:postmaster", "EHLO\tx", "BDAT 100 LAST", "\x00\xff",
		`RCPT TO:<r@b> ORCPT=utf-8;j\x{FC}rgen@b`, "MAIL FROM:<>", "MAIL FROM: <a@b>",
	} {
		f.Add(s)
	}
	p := &Protocol{Hostname: "mx", MaxMessageBytes: 1000}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCommand([]byte(line))
		if err == nil {
			for _, r := range c.verb {
				if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
					t.Fatalf("verb %q of %q", c.verb, line)
				}
			}
		}
		for _, kw := range []string{"FROM:", "TO:"} {
			rest, ok := cutKeyword(c.arg, kw)
			if !ok {
				continue
			}
			addr, params, err := parsePath(rest, kw == "FROM:", kw == "TO:")
			if err != nil {
				continue
			}
			if strings.HasPrefix(params, " ") {
				t.Fatalf("parameters %q start with a space", params)
			}
			if kw == "FROM:" {
				p.mailOptions(params)
			} else {
				p.rcptOptions(params)
			}
			if addr == "" || strings.ContainsAny(addr, "\"\\ <>") {
				continue
			}
			again, _, err := parsePath("<"+addr+">", false, true)
			if err != nil || again != addr {
				t.Fatalf("%q parsed as %q, and <%s> as %q (%v)", rest, addr, addr, again, err)
			}
		}
		parseBDAT(c.arg)
	})
}

// FuzzProtocol feeds any byte stream to the engine with a handler that
// accepts everything: every line written back is a well-formed reply, the
// engine never panics, and it never waits on a client that has sent all.
func FuzzProtocol(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<s@x> SIZE=10\r\nRCPT TO:<r@y>\r\nDATA\r\nSubject: x\r\n\r\n..hi\r\n.\r\nQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@y>\r\nBDAT 5\r\nhelloBDAT 0 LAST\r\nRSET\r\n",
		"EHLO a\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@y>\r\nBDAT 5\r\nhelNOOP\r\nMAIL FROM:<t@x>\r\nBDAT x\r\n",
		"EHLO a\r\nAUTH PLAIN AHUAcA==\r\nAUTH LOGIN\r\ndQ==\r\n*\r\nAUTH LOGIN =\r\n!!\r\n",
		"HELO a\r\nMAIL FROM:<> RET=FULL ENVID=a+2B\r\nRCPT TO:<Postmaster> NOTIFY=NEVER ORCPT=utf-8;\\x{41}\r\n",
		"\r\n\r\n\x00\r\nGET / HTTP/1.0\r\n",
		"EHLO a\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@y>\r\nDATA\r\n" + strings.Repeat("x", 9000) + "\r\n.\r\nNOOP\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		server, client := net.Pipe()
		done := make(chan error, 1)
		h := &protoRecorder{mechs: []string{"PLAIN", "LOGIN"}}
		p := &Protocol{Hostname: "mx.test", MaxMessageBytes: 2000, MaxRecipients: 3, AuthInClear: true,
			CommandTimeout: 2 * time.Second, DataTimeout: 2 * time.Second}
		go func() {
			done <- ServeConn(server, h, p)
			server.Close()
		}()
		client.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			io.WriteString(client, input)
			io.WriteString(client, "\r\n.\r\nQUIT\r\n")
		}()
		readReplies(t, client, input)
		client.Close()
		if err := <-done; err != nil && strings.HasPrefix(err.Error(), "panic") {
			t.Fatalf("%v for input %q", err, input)
		}
	})
}
