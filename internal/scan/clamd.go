package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Clamd is a client of ClamAV's clamd. It streams the message with
// zINSTREAM (clamd(8): "z" framing, NUL-terminated replies; the data in
// chunks of <uint32 big-endian length><bytes>, ended by a zero length).
type Clamd struct {
	Addr    string        // host:port or a Unix socket path
	Timeout time.Duration // per scan
}

func (c *Clamd) Name() string { return "clamd" }
func (c *Clamd) Kind() Kind   { return Virus }

// chunkSize keeps each chunk far below any StreamMaxLength; clamd checks
// the quota as each chunk header arrives.
const chunkSize = 64 << 10

// Scan sends the message and reads the verdict.
func (c *Clamd) Scan(ctx context.Context, m *Message) *Result {
	r := &Result{Scanner: c.Name(), Kind: Virus}
	ctx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	f, _, err := m.Open()
	if err != nil {
		r = failure(r, err)
		r.Cause, r.Detail = CauseIO, "cannot read the spool file"
		return r
	}
	defer f.Close()
	conn, err := dial(ctx, c.Addr)
	if err != nil {
		return failure(r, err)
	}
	defer conn.Close()
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
		return failure(r, fmt.Errorf("clamd at %s: %w", c.Addr, rerr))
	}
	if rerr != nil {
		if werr != nil && !errors.Is(werr, errSpool) {
			rerr = werr
		}
		if ctx.Err() != nil {
			rerr = fmt.Errorf("clamd at %s: %w", c.Addr, context.DeadlineExceeded)
		}
		return failure(r, rerr)
	}
	if errors.Is(werr, errSpool) {
		// Never call a stream we could not send in full clean.
		r = failure(r, werr)
		r.Cause, r.Detail = CauseIO, "cannot read the spool file"
		return r
	}
	return parseClamdReply(r, reply)
}

var errSpool = errors.New("reading the spool file")

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
func parseClamdReply(r *Result, reply string) *Result {
	reply = strings.TrimSpace(reply)
	body := strings.TrimPrefix(reply, "stream: ")
	switch {
	case body == "OK":
		r.Status = Clean
	case strings.HasSuffix(body, " FOUND"):
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
