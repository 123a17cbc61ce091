package relay

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/servetest"
)

// scriptServer is an SMTP server on 127.0.0.2 whose every reply after EHLO
// the test writes: serve gets the connection after the greeting and the
// EHLO reply (with ext's keywords) and plays the remote. It is for what a
// well-behaved library server will not do (a 421 to one pipelined
// command, a pause in the middle of the data).
func scriptServer(t *testing.T, ext []string, serve func(c net.Conn, br *bufio.Reader)) (port int) {
	t.Helper()
	return servetest.Serve(t, "127.0.0.2:0", func(c net.Conn) {
		br := bufio.NewReader(c)
		fmt.Fprint(c, "220 mx.example.net ESMTP\r\n")
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "EHLO") {
			return
		}
		lines := append([]string{"mx.example.net"}, ext...)
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			fmt.Fprintf(c, "250%s%s\r\n", sep, l)
		}
		serve(c, br)
	}).Port
}

// readUntil reads command lines until one starts with prefix (DATA), and
// returns them.
func readUntil(br *bufio.Reader, prefix string) []string {
	var got []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return got
		}
		got = append(got, strings.TrimRight(line, "\r\n"))
		if strings.HasPrefix(line, prefix) {
			return got
		}
	}
}

// Issue 24: Postfix answering a pipelined MAIL FROM with 421 and closing
// (an access rule's "421 text", an overloaded server) was reported "at
// RCPT: EOF" and the remote's text was lost. A 421 ends the session
// (RFC 5321 §3.8): the reply is the reason, at the step it answered, for
// every recipient; so is a refusal of MAIL followed by a hang-up. test/
// relay_out_421_test.go does this with a real Postfix.
func TestReplyBeforeTheServerHangsUp(t *testing.T) {
	const text = "4.7.0 mx.example.net not taking mail from you now"
	for _, c := range []struct {
		name     string
		ext      []string
		serve    func(c net.Conn, br *bufio.Reader)
		step     string
		code     int
		class    string
		sentence string
	}{
		{"421 to a pipelined MAIL", []string{"PIPELINING"}, func(c net.Conn, br *bufio.Reader) {
			readUntil(br, "DATA")
			fmt.Fprint(c, "421 "+text+"\r\n")
		}, "mail", 421, "temporary", "said at MAIL: 421 " + text},
		{"421 to the second pipelined RCPT", []string{"PIPELINING"}, func(c net.Conn, br *bufio.Reader) {
			readUntil(br, "DATA")
			fmt.Fprint(c, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n421 "+text+"\r\n")
		}, "rcpt", 421, "temporary", "said at RCPT: 421 " + text},
		{"421 to pipelined DATA", []string{"PIPELINING"}, func(c net.Conn, br *bufio.Reader) {
			readUntil(br, "DATA")
			fmt.Fprint(c, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n421 "+text+"\r\n")
		}, "data", 421, "temporary", "said at DATA: 421 " + text},
		{"554 to a pipelined MAIL, then a hang-up", []string{"PIPELINING"}, func(c net.Conn, br *bufio.Reader) {
			readUntil(br, "DATA")
			fmt.Fprint(c, "554 5.7.1 go away\r\n")
		}, "mail", 554, "permanent", "said at MAIL: 554 5.7.1 go away"},
		{"421 to MAIL without pipelining", nil, func(c net.Conn, br *bufio.Reader) {
			readUntil(br, "MAIL")
			fmt.Fprint(c, "421 "+text+"\r\n")
		}, "mail", 421, "temporary", "said at MAIL: 421 " + text},
		{"421 to the second RCPT without pipelining", nil, func(c net.Conn, br *bufio.Reader) {
			readUntil(br, "MAIL")
			fmt.Fprint(c, "250 2.1.0 Ok\r\n")
			readUntil(br, "RCPT")
			fmt.Fprint(c, "250 2.1.5 Ok\r\n")
			readUntil(br, "RCPT")
			fmt.Fprint(c, "421 "+text+"\r\n")
		}, "rcpt", 421, "temporary", "said at RCPT: 421 " + text},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := scriptServer(t, c.ext, c.serve)
			e := newEnv(t, port, "tls = \"none\"\n")
			e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
			r := e.relay(Options{})
			m := e.message("alice@ours.test", body, "bob@example.net", "carol@example.net")
			for i, err := range r.DeliverBatch(t.Context(), m, m.Recipients) {
				d := mustDiag(t, err)
				if d.Remote == nil || d.Remote.Step != c.step || d.Remote.Code != c.code || string(d.Class) != c.class ||
					!strings.Contains(d.Reason, c.sentence) || strings.Contains(d.Reason, "EOF") {
					t.Errorf("recipient %d: %s (remote %+v, class %s), want %q at %s", i, d.Sentence(), d.Remote, d.Class, c.sentence, c.step)
				}
			}
		})
	}
}

// Issue 24: relay.data_timeout bounded the whole transfer of the data, so a
// large message to a slow but steady server always failed. It bounds the
// wait for progress (RFC 5321 §4.5.3.2.5): a server that takes 256 KiB
// every 100 ms gets a 16 MiB message (about 6.5 s, of which writing takes
// 4 s or more: the kernel's socket buffers on loopback hold 4-6 MiB, which
// the server still reads after the final dot went) with data_timeout 3s;
// one that stops taking data is given up after about data_timeout.
func TestDataTimeoutBoundsTheWaitForProgress(t *testing.T) {
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 16<<10)
	slow := func(stall bool) func(c net.Conn, br *bufio.Reader) {
		return func(c net.Conn, br *bufio.Reader) {
			c.(*net.TCPConn).SetReadBuffer(64 << 10)
			readUntil(br, "DATA")
			fmt.Fprint(c, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n")
			if stall {
				time.Sleep(time.Minute) // takes nothing
				return
			}
			// 256 KiB every 100 ms, line by line up to the final dot.
			for n := 0; ; {
				line, err := br.ReadString('\n')
				if err != nil || line == ".\r\n" {
					break
				}
				if n += len(line); n >= 256<<10 {
					n = 0
					time.Sleep(100 * time.Millisecond)
				}
			}
			fmt.Fprint(c, "250 2.0.0 Ok: queued as SLOW1\r\n")
			br.ReadString('\n') // QUIT or RSET
		}
	}
	for _, c := range []struct {
		name  string
		stall bool
	}{{"slow but steady", false}, {"stops taking data", true}} {
		t.Run(c.name, func(t *testing.T) {
			port := scriptServer(t, []string{"PIPELINING", "SIZE 100000000"}, slow(c.stall))
			e := newEnv(t, port, "tls = \"none\"\ndata_timeout = \"3s\"\nidle_timeout = \"0s\"\n")
			e.dns.MustAdd("example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
			r := e.relay(Options{})
			m := e.message("alice@ours.test", big, "bob@example.net")
			start := time.Now()
			err := deliver(t, r, m, 0)
			took := time.Since(start)
			t.Logf("%s: %v after %v", c.name, err, took.Round(time.Millisecond))
			if !c.stall {
				if err != nil || took < 4*time.Second {
					t.Errorf("want delivered after more than data_timeout (the transfer takes ~6.5s): %v after %v", err, took)
				}
				return
			}
			d := mustDiag(t, err)
			if d.Remote == nil || d.Remote.Step != stepEnd || !d.Temporary() || took > 10*time.Second {
				t.Errorf("a stalled server: %s after %v, want a temporary failure in the data after about 3s", d.Sentence(), took)
			}
		})
	}
}
