package fetch

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/directory"
)

// popFolder is the name POP3 state is kept under: a maildrop has one
// folder and no UIDVALIDITY (UIDLs are stable across sessions, RFC 1939 §7).
const popFolder = "INBOX"

// popClient is a POP3 client (RFC 1939, CAPA/PIPELINING/STLS RFC 2449 and
// 2595, AUTH RFC 5034): small enough to write, and no maintained module
// exists among ebb's dependencies.
type popClient struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	dog  *watchdog
	caps map[string]bool
}

// popError is a -ERR reply: the server's words.
type popError struct{ words string }

func (e *popError) Error() string { return "the server answered -ERR " + e.words }

func (c *popClient) send(line string) error {
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return err
	}
	return nil
}

func (c *popClient) flush() error { return c.w.Flush() }

// readLine reads one reply line, bounded by the reader's buffer (64 KiB;
// RFC 2449 §4 allows 512 octets) so that a server that never sends a line
// end cannot make memory grow (principle 3).
func (c *popClient) readLine() (string, error) {
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("a POP3 reply line is longer than %d bytes (RFC 2449 §4 allows 512)", c.r.Size())
	}
	return string(line), err
}

// status reads one status line: +OK text, or a *popError for -ERR.
func (c *popClient) status() (string, error) {
	line, err := c.readLine()
	if err != nil {
		return "", c.dog.explain(err)
	}
	c.dog.kick()
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+OK"):
		return strings.TrimSpace(strings.TrimPrefix(line, "+OK")), nil
	case strings.HasPrefix(line, "-ERR"):
		return "", &popError{strings.TrimSpace(strings.TrimPrefix(line, "-ERR"))}
	case strings.HasPrefix(line, "+ ") || line == "+":
		return line, nil // a SASL challenge
	}
	return "", fmt.Errorf("unexpected POP3 reply %q", line)
}

func (c *popClient) cmd(line string) (string, error) {
	if err := c.send(line); err != nil {
		return "", err
	}
	if err := c.flush(); err != nil {
		return "", err
	}
	return c.status()
}

// lines reads a multi-line response's lines (small ones: CAPA, UIDL).
func (c *popClient) lines() ([]string, error) {
	var out []string
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, c.dog.explain(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "." {
			return out, nil
		}
		out = append(out, strings.TrimPrefix(line, ".")) // byte-stuffing, RFC 1939 §3
	}
}

// dotReader streams a multi-line response up to the terminating "."
// line, undoing the byte-stuffing and keeping the CRLF line ends (the
// spool holds the wire form, as for SMTP).
type dotReader struct {
	r    *bufio.Reader
	bol  bool
	done bool
	buf  []byte
	err  error
}

func (d *dotReader) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if d.done {
			return 0, io.EOF
		}
		if d.err != nil {
			return 0, d.err
		}
		if d.bol {
			b, err := d.r.Peek(1)
			if err != nil {
				d.err = unexpected(err)
				continue
			}
			if b[0] == '.' {
				if b3, _ := d.r.Peek(3); string(b3) == ".\r\n" {
					d.r.Discard(3)
					d.done = true
					continue
				}
				if b2, _ := d.r.Peek(2); string(b2) == ".\n" {
					d.r.Discard(2)
					d.done = true
					continue
				}
				d.r.Discard(1)
			}
		}
		line, err := d.r.ReadSlice('\n')
		d.buf = line
		switch {
		case err == nil:
			d.bol = true
		case errors.Is(err, bufio.ErrBufferFull):
			d.bol = false
		default:
			d.err = unexpected(err)
		}
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (f *Fetcher) popDial(ctx context.Context, a *directory.FetchAccount) (*popClient, string, error) {
	tc, err := tlsConfig(a)
	if err != nil {
		return nil, "", err
	}
	d := &net.Dialer{Timeout: f.Cfg.Timeout.Duration}
	conn, err := d.DialContext(ctx, "tcp", where(a))
	if err != nil {
		return nil, "", err
	}
	proto := "POP3"
	if a.TLS == "implicit" {
		if conn, err = f.handshake(ctx, conn, tc); err != nil {
			return nil, "", err
		}
		proto = "POP3S"
	}
	c := &popClient{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 16<<10)}
	c.dog = newWatchdog(f.Cfg.Timeout.Duration, func() { conn.Close() })
	context.AfterFunc(ctx, func() { conn.Close() })
	if _, err := c.status(); err != nil {
		conn.Close()
		return nil, "", err
	}
	c.capa()
	if a.TLS == "starttls" {
		if _, err := c.cmd("STLS"); err != nil {
			conn.Close()
			var pe *popError
			if errors.As(err, &pe) {
				return nil, "", fail(CauseTLS, "start TLS (STLS) with "+where(a), pe, "the server offers no STLS: use --tls implicit on port 995")
			}
			return nil, "", err
		}
		tconn, err := f.handshake(ctx, conn, tc)
		if err != nil {
			return nil, "", err
		}
		c.conn, proto = tconn, "POP3S"
		c.r, c.w = bufio.NewReaderSize(tconn, 64<<10), bufio.NewWriterSize(tconn, 16<<10)
		c.dog.close = func() { tconn.Close() }
		c.capa() // RFC 2595 §4: capabilities may change after TLS
	}
	if err := f.popLogin(ctx, c, a); err != nil {
		c.conn.Close()
		return nil, "", err
	}
	return c, proto, nil
}

// handshake starts TLS on conn within fetch.timeout; conn is closed on
// failure.
func (f *Fetcher) handshake(ctx context.Context, conn net.Conn, tc *tls.Config) (net.Conn, error) {
	tconn := tls.Client(conn, tc)
	hctx, cancel := context.WithTimeout(ctx, f.Cfg.Timeout.Duration)
	defer cancel()
	if err := tconn.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tconn, nil
}

func (c *popClient) capa() {
	c.caps = map[string]bool{}
	if _, err := c.cmd("CAPA"); err != nil {
		return
	}
	ls, err := c.lines()
	if err != nil {
		return
	}
	for _, l := range ls {
		c.caps[strings.ToUpper(strings.Fields(l + " ")[0])] = true
		if strings.HasPrefix(strings.ToUpper(l), "SASL ") {
			for _, m := range strings.Fields(l)[1:] {
				c.caps["SASL:"+strings.ToUpper(m)] = true
			}
		}
	}
}

func (f *Fetcher) popLogin(ctx context.Context, c *popClient, a *directory.FetchAccount) error {
	doing := fmt.Sprintf("log in to %s as %s", where(a), a.Username)
	var err error
	if a.Auth == "oauth2" {
		tok, _, terr := f.accessToken(ctx, a)
		if terr != nil {
			return terr
		}
		mech := "XOAUTH2"
		if a.OAuth.Mechanism != "" {
			mech = a.OAuth.Mechanism
		}
		sc := saslClient(mech, a.Username, tok, a.Host, a.Port)
		m, ir, _ := sc.Start()
		// RFC 5034 §4: AUTH mechanism initial-response.
		var st string
		st, err = c.cmd("AUTH " + m + " " + base64.StdEncoding.EncodeToString(ir))
		if err == nil && strings.HasPrefix(st, "+") {
			_, err = c.cmd("") // the server's error challenge; it answers -ERR
		}
	} else {
		if _, err = c.cmd("USER " + a.Username); err == nil {
			_, err = c.cmd("PASS " + a.Password)
		}
	}
	var pe *popError
	if errors.As(err, &pe) {
		hint := "check the username and the password (ebb fetch passwd " + a.Name + ")"
		if a.Auth == "oauth2" {
			hint = "the access token was refused; run ebb fetch auth " + a.Name + " if this persists"
		}
		return fail(CauseLogin, doing, fmt.Errorf("the server refused the login: %s", pe.words), hint)
	}
	return err
}

type popMsg struct {
	n    int
	uidl string
}

// popSession fetches the maildrop once: UIDL, RETR of every UIDL not yet
// delivered (pipelined when the server offers PIPELINING), then DELE of
// the delivered ones and QUIT, which commits the deletions (RFC 1939 §6).
func (f *Fetcher) popSession(ctx context.Context, a *directory.FetchAccount, p Progress, res *Result) error {
	c, proto, err := f.popDial(ctx, a)
	if err != nil {
		return err
	}
	defer func() {
		c.dog.stop()
		c.conn.Close()
	}()
	if _, err := c.cmd("UIDL"); err != nil {
		var pe *popError
		if errors.As(err, &pe) {
			return fail(CauseServer, "list the unique ids (UIDL) on "+where(a), pe,
				"the server has no UIDL (RFC 1939 §7): without it ebb cannot tell what it fetched before, so it fetches nothing")
		}
		return err
	}
	ls, err := c.lines()
	if err != nil {
		return err
	}
	var list []popMsg
	for _, l := range ls {
		fs := strings.Fields(l)
		if len(fs) != 2 {
			continue
		}
		n, err := strconv.Atoi(fs[0])
		if err != nil {
			continue
		}
		list = append(list, popMsg{n, fs[1]})
	}
	seen, err := f.Store.FetchedUIDs(ctx, a.Name, popFolder, 0)
	if err != nil {
		return fail(CauseLocal, "read what was fetched", err, "")
	}
	var todo, dele []popMsg
	listed := map[string]bool{}
	for _, m := range list {
		listed[m.uidl] = true
		removed, ok := seen[m.uidl]
		switch {
		case !ok:
			todo = append(todo, m)
		case !removed && a.After == "delete":
			dele = append(dele, m)
		}
	}
	// Recorded as due for deletion, gone from the server: done.
	var gone []string
	for u, removed := range seen {
		if !removed && !listed[u] {
			gone = append(gone, u)
		}
	}
	if err := f.markRemoved(ctx, a, popFolder, 0, gone); err != nil {
		return err
	}
	if p != nil {
		p.Folder(a.Name, popFolder, len(todo))
	}
	window := 1
	if c.caps["PIPELINING"] {
		window = f.Cfg.Batch
	}
	for start := 0; start < len(todo); start += window {
		part := todo[start:min(start+window, len(todo))]
		for _, m := range part {
			if err := c.send("RETR " + strconv.Itoa(m.n)); err != nil {
				return err
			}
		}
		if err := c.flush(); err != nil {
			return err
		}
		for _, m := range part {
			if _, err := c.status(); err != nil {
				var pe *popError
				if errors.As(err, &pe) {
					return fail(CauseServer, fmt.Sprintf("retrieve message %d (UIDL %s) from %s", m.n, m.uidl, where(a)), pe, "")
				}
				return err
			}
			o := origin{a: a, proto: proto, folder: popFolder, uid: m.uidl}
			if err := f.fetchOne(ctx, o, &dotReader{r: c.r, bol: true}, c.dog, a.After != "delete", p, res); err != nil {
				return err
			}
			if a.After == "delete" {
				dele = append(dele, m)
			}
		}
	}
	for _, m := range dele {
		if err := c.send("DELE " + strconv.Itoa(m.n)); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	for range dele {
		if _, err := c.status(); err != nil {
			return err
		}
	}
	// Deletions take effect only when QUIT succeeds (RFC 1939 §6); only
	// then are they recorded.
	if _, err := c.cmd("QUIT"); err != nil {
		return err
	}
	names := make([]string, len(dele))
	for i, m := range dele {
		names[i] = m.uidl
	}
	if err := f.markRemoved(ctx, a, popFolder, 0, names); err != nil {
		return err
	}
	res.Removed += len(dele)
	return nil
}
