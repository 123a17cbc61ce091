package smtpd

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"
)

// A client that trickles a command one byte at a time, each byte well
// within the timeout, is cut off once the line has taken the timeout.
func TestBoundedListenerSlowloris(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bl := BoundedListener(ln, time.Hour, false)
	defer bl.Close()
	const timeout = 600 * time.Millisecond
	result := readUntilCut(bl, 1, timeout)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		for i := 0; i < 40; i++ {
			if _, err := c.Write([]byte("E")); err != nil {
				return
			}
			time.Sleep(timeout / 3) // the trickle under test: a byte well within the timeout
		}
	}()
	select {
	case d := <-result:
		if d > 2*timeout {
			t.Errorf("cut off after %v, want about %v", d, timeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the trickling client held the connection")
	}
}

// Complete lines keep a session alive; the session bound still ends it.
func TestBoundedListenerLinesAndSessionBound(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	bl := BoundedListener(ln, 1500*time.Millisecond, false)
	defer bl.Close()
	lines := make(chan int, 1)
	go func() {
		c, err := bl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(boundedReaderFunc(func(p []byte) (int, error) {
			c.SetReadDeadline(time.Now().Add(time.Second))
			return c.Read(p)
		}))
		n := 0
		for {
			if _, err := r.ReadString('\n'); err != nil {
				lines <- n
				return
			}
			n++
		}
	}()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	for i := 0; i < 10; i++ {
		c.Write([]byte("NOOP\r\n"))
		time.Sleep(300 * time.Millisecond) // the pace under test: a line well within the read timeout
	}
	select {
	case n := <-lines:
		if n < 3 || n > 6 {
			t.Errorf("%d lines read before the session bound, want about 5", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session not bounded")
	}
}

// readUntilCut accepts one connection on bl and reads it n bytes at a
// time, moving the read deadline to every from now before each read (what
// conn.Read does), until a read fails; it sends how long that took.
func readUntilCut(bl net.Listener, n int, every time.Duration) <-chan time.Duration {
	result := make(chan time.Duration, 1)
	go func() {
		c, err := bl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		start := time.Now()
		buf := make([]byte, n)
		for {
			c.SetReadDeadline(time.Now().Add(every))
			if _, err := c.Read(buf); err != nil {
				result <- time.Since(start)
				return
			}
		}
	}()
	return result
}

type boundedReaderFunc func([]byte) (int, error)

func (f boundedReaderFunc) Read(p []byte) (int, error) { return f(p) }

// After STARTTLS the clamp is off: bytes are ciphertext, and a busy TLS
// client must not be cut off because its records hold no 0x0A.
func TestBoundedListenerTLSNotClamped(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	bl := BoundedListener(ln, time.Hour, false)
	defer bl.Close()
	done := readUntilCut(bl, 64, 500*time.Millisecond)
	c, _ := net.Dial("tcp", ln.Addr().String())
	c.Write([]byte("STARTTLS\r\n"))
	time.Sleep(50 * time.Millisecond) // the line and the handshake in two reads, as from a real client
	c.Write([]byte{0x16, 0x03, 0x01, 0x00})
	for i := 0; i < 8; i++ { // 2s of records without a 0x0A, each within 500ms
		time.Sleep(250 * time.Millisecond) // the pace under test
		c.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x01})
	}
	c.Close()
	if d := <-done; d < 2*time.Second {
		t.Errorf("a busy TLS client was cut off after %v", d)
	}
}

// dialFrom connects from a given loopback address.
func dialFrom(t *testing.T, local, addr string) (*client, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	return cl, cl.reply()
}

// A BDAT chunk past the size limit gets 552 5.3.4, the session goes on,
// and nothing of the message stays in the spool. The chunk has no line
// ends: go-smtp's own check read it through the 8 KiB line limit and broke
// the connection.
func TestBDATPastTheSizeLimit(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil) // 10000 octets
	cases := []struct {
		name   string
		chunks []int
	}{
		{"one chunk over the limit", []int{20000}},
		{"the second chunk passes the limit", []int{6000, 6000}},
		{"a chunk of exactly one octet too many", []int{10001}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := dial(t, ts.addr)
			c.cmd("EHLO c")
			c.cmd("MAIL FROM:<s@example.org>")
			c.cmd("RCPT TO:<alice@example.test>")
			var got string
			for i, n := range tc.chunks {
				last := ""
				if i == len(tc.chunks)-1 {
					last = " LAST"
				}
				fmt.Fprintf(c.c, "BDAT %d%s\r\n", n, last)
				c.c.Write(bytes.Repeat([]byte("x"), n))
				got = c.reply()
				if strings.HasPrefix(got, "5") {
					break
				}
			}
			if !strings.HasPrefix(got, "552 5.3.4") {
				t.Errorf("reply %q, want 552 5.3.4", got)
			}
			if got := c.cmd("NOOP"); !strings.HasPrefix(got, "250") {
				t.Errorf("after the refused chunk, NOOP = %q: the session must go on", got)
			}
			ents, _ := os.ReadDir(ts.spool.dir)
			if len(ents) != 0 {
				t.Errorf("spool keeps %d files after the refusal", len(ents))
			}
		})
	}
	t.Run("a message within the limit is still accepted after one was refused", func(t *testing.T) {
		c, _ := dial(t, ts.addr)
		c.cmd("EHLO c")
		c.cmd("MAIL FROM:<s@example.org>")
		c.cmd("RCPT TO:<alice@example.test>")
		fmt.Fprintf(c.c, "BDAT 20000 LAST\r\n")
		c.c.Write(bytes.Repeat([]byte("x"), 20000))
		c.reply()
		if ehlo := c.cmd("EHLO c"); !strings.Contains(ehlo, "SIZE 10000") {
			t.Errorf("EHLO after the refusal lacks SIZE 10000:\n%s", ehlo)
		}
		if got := c.cmd("MAIL FROM:<s@example.org> SIZE=20000"); !strings.HasPrefix(got, "552") {
			t.Errorf("SIZE=20000 after a refusal: %q, want 552", got)
		}
		c.cmd("MAIL FROM:<s@example.org>")
		c.cmd("RCPT TO:<alice@example.test>")
		fmt.Fprintf(c.c, "BDAT 9000 LAST\r\n")
		c.c.Write(bytes.Repeat([]byte("y"), 9000))
		if got := c.reply(); !strings.HasPrefix(got, "250") {
			t.Errorf("BDAT within the limit: %q, want 250", got)
		}
	})
}

// A slot is free again as soon as the client has its 221, or has closed
// its side: a client reconnecting at once is not refused by its own past.
func TestSlotsAreReleasedWhenTheSessionEnds(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, nil) // 2 per IP
	for round := 0; round < 30; round++ {
		a, g1 := dial(t, ts.addr)
		b, g2 := dial(t, ts.addr)
		if !strings.HasPrefix(g1, "220") || !strings.HasPrefix(g2, "220") {
			t.Fatalf("round %d: greetings %q %q", round, g1, g2)
		}
		if round%2 == 0 {
			a.cmd("QUIT")
			b.cmd("QUIT")
		} else {
			a.c.Close()
			b.c.Close()
		}
	}
}

// The last smtp.reserved_connections slots are kept for trusted clients.
func TestReservedSlotsForTrustedNetworks(t *testing.T) {
	ts := startServer(t, mapDirectory{}, nil, func(o *Options) {
		o.MaxConnections, o.MaxPerIP, o.Reserved = 3, 10, 1
		o.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if _, g := dialFrom(t, ip, ts.addr); !strings.HasPrefix(g, "220") {
			t.Fatalf("stranger %s: %q, want 220", ip, g)
		}
	}
	if _, g := dialFrom(t, "127.0.0.4", ts.addr); !strings.HasPrefix(g, "421 4.7.0") {
		t.Errorf("third stranger: %q, want 421 (the last slot is reserved)", g)
	}
	if _, g := dialFrom(t, "127.0.0.1", ts.addr); !strings.HasPrefix(g, "220") {
		t.Errorf("trusted client: %q, want 220 from the reserve", g)
	}
	if _, g := dialFrom(t, "127.0.0.1", ts.addr); !strings.HasPrefix(g, "421 4.7.0") {
		t.Errorf("past max_connections even for trusted: %q, want 421", g)
	}
}
