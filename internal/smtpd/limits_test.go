package smtpd

import (
	"bufio"
	"net"
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
	result := make(chan time.Duration, 1)
	go func() {
		c, err := bl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		start := time.Now()
		buf := make([]byte, 1)
		for {
			// What conn.Read does: move the deadline before every read.
			c.SetReadDeadline(time.Now().Add(timeout))
			if _, err := c.Read(buf); err != nil {
				result <- time.Since(start)
				return
			}
		}
	}()
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
			time.Sleep(timeout / 3)
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
		time.Sleep(300 * time.Millisecond)
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

type boundedReaderFunc func([]byte) (int, error)

func (f boundedReaderFunc) Read(p []byte) (int, error) { return f(p) }

// After STARTTLS the clamp is off: bytes are ciphertext, and a busy TLS
// client must not be cut off because its records hold no 0x0A.
func TestBoundedListenerTLSNotClamped(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	bl := BoundedListener(ln, time.Hour, false)
	defer bl.Close()
	done := make(chan time.Duration, 1)
	go func() {
		c, err := bl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		start := time.Now()
		buf := make([]byte, 64)
		for {
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := c.Read(buf); err != nil {
				done <- time.Since(start)
				return
			}
		}
	}()
	c, _ := net.Dial("tcp", ln.Addr().String())
	c.Write([]byte("STARTTLS\r\n"))
	time.Sleep(50 * time.Millisecond)
	c.Write([]byte{0x16, 0x03, 0x01, 0x00})
	for i := 0; i < 8; i++ { // 2s of records without a 0x0A, each within 500ms
		time.Sleep(250 * time.Millisecond)
		c.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x01})
	}
	c.Close()
	if d := <-done; d < 2*time.Second {
		t.Errorf("a busy TLS client was cut off after %v", d)
	}
}
