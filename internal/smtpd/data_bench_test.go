package smtpd

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/mailhdr"
)

// BenchmarkData is the receive path of one message over a connection,
// from the connection's buffer to the bytes the spool writes: the engine
// reads DATA (or BDAT), the session's reader hands it on, and the spool's
// own reading (mailhdr.Normalise through a pooled reader, as queue.Receive
// does) copies it to a writer that keeps nothing. The connection is in
// memory and nothing waits, so the time per message is CPU time; cpu-ns/op
// is the process's user+system CPU per message (getrusage), GC included.
func BenchmarkData(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		msg := benchMessage(size)
		stuffed := strings.ReplaceAll(msg, "\r\n.", "\r\n..") + ".\r\n"
		data := "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n" + stuffed
		bdat := fmt.Sprintf("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nBDAT %d LAST\r\n%s", len(msg), msg)
		for _, c := range []struct{ name, txn string }{{"DATA", data}, {"BDAT", bdat}} {
			b.Run(fmt.Sprintf("%s/%dKiB", c.name, size>>10), func(b *testing.B) {
				benchmarkData(b, c.txn, len(msg))
			})
		}
	}
}

// benchMessage is a message of about size octets: a header, then lines
// of 76 characters, some of them starting with a dot.
func benchMessage(size int) string {
	var sb strings.Builder
	sb.WriteString("From: <a@example.org>\r\nTo: <b@example.test>\r\nSubject: bench\r\nMessage-ID: <bench@example.org>\r\n\r\n")
	for i := 0; sb.Len() < size; i++ {
		if i%40 == 39 {
			sb.WriteString(".")
		}
		sb.WriteString(strings.Repeat(string(rune('A'+i%26)), 76) + "\r\n")
	}
	return sb.String()
}

func benchmarkData(b *testing.B, txn string, want int) {
	h := &benchSpool{}
	c := &scriptConn{txn: []byte(txn), left: b.N}
	c.r.Reset(append([]byte("EHLO client.example.org\r\n"), c.txn...))
	p := &Protocol{Hostname: "mx.example.test"}
	b.SetBytes(int64(want))
	b.ReportAllocs()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	ServeConn(c, h, p)
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if h.n != b.N || h.bytes/int64(b.N) < int64(want) {
		b.Fatalf("%d messages of %d octets in all, want %d of at least %d", h.n, h.bytes, b.N, want)
	}
}

// benchSpool takes the message as the session and the queue's Receive
// read it, and keeps nothing.
type benchSpool struct {
	n     int
	bytes int64
}

func (h *benchSpool) Hello(string, *tls.ConnectionState) error { return nil }
func (h *benchSpool) Mail(string, *MailOptions) error          { return nil }
func (h *benchSpool) Rcpt(string, *RcptOptions) error          { return nil }
func (h *benchSpool) Reset()                                   {}

func (h *benchSpool) Data(r io.Reader) error {
	dr := newDataReader(r)
	br, bp := bufpool.Reader(dr), bufpool.Bytes()
	n, err := io.CopyBuffer(nowhere{}, mailhdr.Normalise(br), *bp)
	bufpool.PutReader(br)
	bufpool.PutBytes(bp)
	h.n++
	h.bytes += n
	return err
}

// nowhere is a writer that is not an io.ReaderFrom, so that CopyBuffer
// uses the spool's buffer as queue.Receive does.
type nowhere struct{}

func (nowhere) Write(p []byte) (int, error) { return len(p), nil }

// scriptConn is a connection whose client sends txn left times and then
// QUIT, all of it at once, and reads nothing.
type scriptConn struct {
	txn  []byte
	left int
	r    bytes.Reader
	quit bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.r.Len() == 0 {
		switch {
		case c.left > 1:
			c.left--
			c.r.Reset(c.txn)
		case !c.quit:
			c.quit = true
			c.r.Reset([]byte("QUIT\r\n"))
		default:
			return 0, io.EOF
		}
	}
	return c.r.Read(p)
}

func (c *scriptConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }
