package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Clamd is a client of ClamAV's clamd. It streams the message with
// zINSTREAM (clamd(8): "z" framing, NUL-terminated replies; the data in
// chunks of <uint32 big-endian length><bytes>, ended by a zero length),
// inside an IDSESSION so that one connection serves many messages.
type Clamd struct {
	Addr    string        // host:port or a Unix socket path
	Timeout time.Duration // per scan

	mu   sync.Mutex
	idle []idleSession
}

type idleSession struct {
	c     net.Conn
	since time.Time
}

const (
	// maxIdleSessions bounds the connections kept open between messages.
	maxIdleSessions = 8
	// idleSessionFor stays below clamd's IdleTimeout (30 s by default),
	// after which clamd closes a session that has nothing to do.
	idleSessionFor = 10 * time.Second
)

func (c *Clamd) Name() string { return "clamd" }
func (c *Clamd) Kind() Kind   { return Virus }

// chunkSize keeps each chunk far below any StreamMaxLength; clamd checks
// the quota as each chunk header arrives.
const chunkSize = 64 << 10

// Scan sends the message and reads the verdict. A reused session that
// clamd has closed meanwhile (its IdleTimeout, a restart) fails before any
// reply: the message is sent again once on a new connection.
func (c *Clamd) Scan(ctx context.Context, m *Message) *Result {
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		r := &Result{Scanner: c.Name(), Kind: Virus}
		conn, reused, err := c.session(ctx)
		if err != nil {
			return failure(r, err)
		}
		r, keep, stale := c.scanOn(ctx, conn, m, r)
		if keep {
			c.put(conn)
		} else {
			conn.Close()
		}
		if stale && reused && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return r
	}
}

// session returns an idle session or a new one.
func (c *Clamd) session(ctx context.Context) (net.Conn, bool, error) {
	now := time.Now()
	c.mu.Lock()
	for len(c.idle) > 0 {
		s := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if now.Sub(s.since) < idleSessionFor {
			c.mu.Unlock()
			if dl, ok := ctx.Deadline(); ok {
				s.c.SetDeadline(dl)
			} else {
				s.c.SetDeadline(time.Time{})
			}
			return s.c, true, nil
		}
		s.c.Close()
	}
	c.mu.Unlock()
	conn, err := dial(ctx, c.Addr)
	if err != nil {
		return nil, false, err
	}
	if _, err := io.WriteString(conn, "zIDSESSION\x00"); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("clamd at %s: %w", c.Addr, err)
	}
	return conn, false, nil
}

// IdleSessions is how many sessions wait for the next message.
func (c *Clamd) IdleSessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

func (c *Clamd) put(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) >= maxIdleSessions {
		io.WriteString(conn, "zEND\x00")
		conn.Close()
		return
	}
	c.idle = append(c.idle, idleSession{conn, time.Now()})
}

// scanOn runs one INSTREAM on conn. keep: the session may serve another
// message; stale: it failed before any reply, as a session clamd closed.
func (c *Clamd) scanOn(ctx context.Context, conn net.Conn, m *Message, r *Result) (res *Result, keep, stale bool) {
	f, _, err := m.Open()
	if err != nil {
		r = failure(r, err)
		return r, true, false
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	werr := writeInstream(conn, f)
	// clamd closes the connection when the stream passes StreamMaxLength,
	// often while we are still writing (EPIPE, ECONNRESET): its reply,
	// "INSTREAM size limit exceeded. ERROR", is already on the wire, so
	// read it whatever the write said.
	reply, rerr := readNul(conn)
	var pe *protocolError
	if errors.As(rerr, &pe) {
		return failure(r, fmt.Errorf("clamd at %s: %w", c.Addr, rerr)), false, false
	}
	if rerr != nil {
		stale = reply == "" && !isTimeout(rerr)
		if werr != nil && !errors.Is(werr, errSpool) {
			rerr = werr
		}
		if ctx.Err() != nil {
			rerr = fmt.Errorf("clamd at %s: %w", c.Addr, context.DeadlineExceeded)
		}
		return failure(r, rerr), false, stale
	}
	if errors.Is(werr, errSpool) {
		// Never call a stream we could not send in full clean.
		return failure(r, werr), false, false
	}
	r = parseClamdReply(r, stripSessionID(reply))
	return r, werr == nil && (r.Status == Clean || r.Status == Infected), false
}

// stripSessionID removes the "<n>: " a reply gets inside IDSESSION.
func stripSessionID(reply string) string {
	id, rest, ok := strings.Cut(reply, ": ")
	if !ok || id == "" {
		return reply
	}
	for _, ch := range id {
		if ch < '0' || ch > '9' {
			return reply
		}
	}
	return rest
}

func writeInstream(w io.Writer, f io.Reader) error {
	bw := bufio.NewWriterSize(w, chunkSize+4)
	if _, err := bw.WriteString("zINSTREAM\x00"); err != nil {
		return err
	}
	buf := make([]byte, chunkSize)
	var hdr [4]byte
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			binary.BigEndian.PutUint32(hdr[:], uint32(n))
			if _, werr := bw.Write(hdr[:]); werr != nil {
				return werr
			}
			if _, werr := bw.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errSpool, err)
		}
	}
	if _, err := bw.Write([]byte{0, 0, 0, 0}); err != nil {
		return err
	}
	return bw.Flush()
}

// readNul reads one reply up to its NUL (or newline, or EOF), at most 4 KiB.
func readNul(r io.Reader) (string, error) {
	var b bytes.Buffer
	buf := make([]byte, 512)
	for b.Len() < 4096 {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if i := bytes.IndexAny(b.Bytes(), "\x00\n"); i >= 0 {
			return string(b.Bytes()[:i]), nil
		}
		if err != nil {
			if err == io.EOF && b.Len() > 0 {
				// A reply without its terminator was cut short: never
				// take "stream: OK" that may have been "stream: OK…" for
				// a verdict.
				return b.String(), protoErr("the reply %q was cut short", b.String())
			}
			return b.String(), err
		}
	}
	return b.String(), nil
}

// parseClamdReply reads "stream: OK", "stream: <name> FOUND",
// "stream: <name>(<hash>:<size>) FOUND" (ExtendedDetectionInfo),
// "INSTREAM size limit exceeded. ERROR" and "<message> ERROR".
//
// A verdict (OK, FOUND) counts only after "stream: ", the name clamd gives
// the stream it was sent: a bare "OK" or a verdict about something else
// ("/path: OK") is no answer to this scan, and a FOUND without a name is
// none either; they are unscanned (protocol).
func parseClamdReply(r *Result, reply string) *Result {
	reply = strings.TrimSpace(reply)
	body, stream := strings.CutPrefix(reply, "stream: ")
	switch {
	case stream && body == "OK":
		r.Status = Clean
	case stream && strings.HasSuffix(body, " FOUND") && strings.TrimSpace(strings.TrimSuffix(body, " FOUND")) != "":
		name := strings.TrimSpace(strings.TrimSuffix(body, " FOUND"))
		if i := strings.IndexByte(name, '('); i > 0 && strings.HasSuffix(name, ")") {
			name = name[:i]
		}
		r.Status, r.Virus = Infected, name
	case strings.Contains(body, "size limit exceeded"):
		// Over clamd's StreamMaxLength: skipped, never clean.
		r.Status, r.Cause = Skipped, CauseScannerLimit
		r.Detail = "over clamd's StreamMaxLength"
		r.Err = errors.New("clamd: " + body)
	default:
		return failure(r, protoErr("clamd replied %q", reply))
	}
	return r
}

// Ping asks clamd for PONG.
func (c *Clamd) Ping(ctx context.Context) error {
	_, err := c.command(ctx, "PING", "PONG")
	return err
}

// Version is clamd's VERSION reply ("ClamAV 1.4.6/27xxx/date").
func (c *Clamd) Version(ctx context.Context) (string, error) {
	return c.command(ctx, "VERSION", "ClamAV")
}

func (c *Clamd) command(ctx context.Context, cmd, want string) (string, error) {
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := dial(ctx, c.Addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "z"+cmd+"\x00"); err != nil {
		return "", err
	}
	reply, err := readNul(conn)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, want) {
		return reply, protoErr("clamd answered %s with %q", cmd, reply)
	}
	return reply, nil
}
