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

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/fetchstate"
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

// maxListing bounds a multi-line response read whole (CAPA, UIDL, LIST):
// a million messages fit; a server that never ends one does not make
// memory grow without bound.
const maxListing = 64 << 20

// lines reads a multi-line response's lines (small ones: CAPA, UIDL).
func (c *popClient) lines() ([]string, error) {
	var out []string
	total := 0
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, c.dog.explain(err)
		}
		c.dog.kick()
		if total += len(line); total > maxListing {
			return nil, &errOverflow{fmt.Sprintf("a POP3 listing is longer than %d bytes", maxListing)}
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

// drain reads the rest of the response to its terminating line, at most
// limit bytes (a server that never ends one is cut off).
func (d *dotReader) drain(limit int64) error {
	n, err := io.Copy(io.Discard, io.LimitReader(d, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return &errOverflow{fmt.Sprintf("a POP3 message goes on past %d bytes", limit)}
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (f *Fetcher) popDial(ctx context.Context, a *fetchstate.FetchAccount) (*popClient, string, error) {
	tc, err := tlsConfig(a, f.ReadAs)
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
				return nil, "", fail(CauseTLS, "start TLS (STLS) with "+where(a), pe,
					diag.Because("the server offers no STLS here: use POP3 over TLS", diag.Command("ebb", "fetch", "set", a.Name, "--tls", "implicit", "--server", net.JoinHostPort(a.Host, "995"))))
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
		fs := strings.Fields(l)
		if len(fs) == 0 {
			continue
		}
		c.caps[strings.ToUpper(fs[0])] = true
		if strings.ToUpper(fs[0]) == "SASL" {
			for _, m := range fs[1:] {
				c.caps["SASL:"+strings.ToUpper(m)] = true
			}
		}
	}
}

func (f *Fetcher) popLogin(ctx context.Context, c *popClient, a *fetchstate.FetchAccount) error {
	doing := fmt.Sprintf("log in as %s to %s", a.Username, where(a))
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
		return fail(CauseLogin, doing, fmt.Errorf("the server refused the login: %s", pe.words), loginFix(a))
	}
	return err
}

type popMsg struct {
	n    int
	uidl string
	size int64
}

// popListing reads UIDL and LIST: the maildrop's messages by number,
// with their UIDLs and sizes. A UIDL the server gives twice (RFC 1939 §7
// forbids it) names no message surely: neither is taken nor deleted.
func (f *Fetcher) popListing(c *popClient, a *fetchstate.FetchAccount) ([]popMsg, error) {
	if _, err := c.cmd("UIDL"); err != nil {
		var pe *popError
		if errors.As(err, &pe) {
			return nil, fail(CauseServer, "list the unique ids (UIDL) on "+where(a), pe,
				because("the server has no UIDL (RFC 1939 §7): without it ebb cannot tell what it fetched before, so it fetches nothing; fetch this account over IMAP if the provider offers it"))
		}
		return nil, err
	}
	ls, err := c.lines()
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	var list []popMsg
	for _, l := range ls {
		fs := strings.Fields(l)
		if len(fs) != 2 {
			continue
		}
		n, err := strconv.Atoi(fs[0])
		if err != nil || n < 1 {
			continue
		}
		list = append(list, popMsg{n: n, uidl: fs[1]})
		count[fs[1]]++
	}
	sizes := map[int]int64{}
	if _, err := c.cmd("LIST"); err == nil {
		ls, err := c.lines()
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			fs := strings.Fields(l)
			if len(fs) < 2 {
				continue
			}
			n, err1 := strconv.Atoi(fs[0])
			sz, err2 := strconv.ParseInt(fs[1], 10, 64)
			if err1 == nil && err2 == nil && sz >= 0 {
				sizes[n] = sz
			}
		}
	} else if !isPopErr(err) {
		return nil, err
	}
	out := list[:0]
	for _, m := range list {
		if count[m.uidl] > 1 {
			f.log().Warn("the POP3 server lists a UIDL twice: neither message is taken or deleted", "account", a.Name,
				"server", where(a), "uidl", m.uidl)
			continue
		}
		m.size = sizes[m.n]
		out = append(out, m)
	}
	return out, nil
}

func isPopErr(err error) bool {
	var pe *popError
	return errors.As(err, &pe)
}

// popSummary reads a message's header with TOP n 0 (RFC 1939 §7, when
// offered) for the notice of a message skipped before it was fetched.
func (c *popClient) popSummary(n int) string {
	if !c.caps["TOP"] {
		return ""
	}
	if _, err := c.cmd("TOP " + strconv.Itoa(n) + " 0"); err != nil {
		return ""
	}
	d := &dotReader{r: c.r, bol: true}
	b, err := io.ReadAll(io.LimitReader(d, maxSummaryHeader))
	if err != nil || d.drain(maxListing) != nil {
		c.conn.Close() // out of step: the session ends at the next command
		return ""
	}
	return summaryOf(b)
}

// popSession fetches the maildrop once: UIDL and LIST, RETR of every
// message not yet taken (pipelined when the server offers PIPELINING),
// then DELE of those the queue delivered and QUIT, which commits the
// deletions (RFC 1939 §6).
func (f *Fetcher) popSession(ctx context.Context, a *fetchstate.FetchAccount, p Progress, res *Result) (err error) {
	if err := f.beginPass(ctx, a, res); err != nil {
		return err
	}
	defer func() {
		if _, _, eerr := f.endPass(ctx, a, res); err == nil {
			err = eerr
		}
	}()
	c, proto, err := f.popDial(ctx, a)
	if err != nil {
		return err
	}
	defer func() {
		c.dog.stop()
		c.conn.Close()
	}()
	list, err := f.popListing(c, a)
	if err != nil {
		return err
	}
	rows, err := f.Store.FetchedInFolder(ctx, a.Name, popFolder, 0)
	if err != nil {
		return fail(CauseLocal, "read what was fetched", err, nil)
	}
	listed := map[string]bool{}
	var todo []popMsg
	for _, m := range list {
		listed[m.uidl] = true
		r, ok := rows[m.uidl]
		if !ok || r.State == fetchstate.FetchRetry {
			todo = append(todo, m)
		}
	}
	// Delivered, due for deletion, gone from the server: done (by another
	// client, or by our QUIT whose answer was lost). Asked for again and
	// gone: forgotten.
	var removed []string
	var gone []fetchstate.FetchedKey
	for u, r := range rows {
		switch {
		case listed[u]:
		case r.State == fetchstate.FetchDelivered && !r.Removed:
			removed = append(removed, u)
		case r.State == fetchstate.FetchRetry:
			gone = append(gone, r.Key())
		}
	}
	if err := f.markRemoved(ctx, a, popFolder, 0, removed); err != nil {
		return err
	}
	if err := f.Store.ForgetFetched(ctx, a.Name, gone); err != nil {
		return fail(CauseLocal, "forget messages gone from the server", err, nil)
	}
	if p != nil {
		p.Folder(a.Name, popFolder, len(todo))
	}
	s := &stepper{dog: c.dog, p: p, res: res, waitFor: map[string]bool{}}
	// The local pre-check, by the sizes LIST gave.
	var want []popMsg
	for _, m := range todo {
		o := origin{a: a, proto: proto, folder: popFolder, uid: m.uidl}
		refusal, wait, stop := f.ready(ctx, a, m.size)
		if stop != nil {
			return stop
		}
		if wait != nil {
			s.waiting++
			s.waitingWhy = wait
			continue
		}
		if refusal != nil {
			if err := f.recordSkip(ctx, o, m.size, c.popSummary(m.n), refusal, res); err != nil {
				return err
			}
			continue
		}
		want = append(want, m)
	}
	window := 1
	if c.caps["PIPELINING"] {
		window = f.Cfg.Batch
	}
	pp := f.newPipe(ctx, s)
	// Everything on its way is recorded, whatever ends the pass (settle
	// below needs it all; a way out before it, too).
	defer pp.finish()
	for start := 0; start < len(want); start += window {
		part := want[start:min(start+window, len(want))]
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
				if isPopErr(err) {
					// Gone meanwhile, or the server will not give it: left
					// alone; the rest of the window is read on.
					f.log().Info("the server would not give a message; it is left alone", "account", a.Name, "server", where(a),
						"uidl", m.uidl, "err", err)
					continue
				}
				return err
			}
			o := origin{a: a, proto: proto, folder: popFolder, uid: m.uidl}
			body := &dotReader{r: c.r, bol: true}
			if err := pp.take(o, body, -1, nil); err != nil {
				return err
			}
			// What the queue did not read (a refusal mid-message) is read
			// to the end, to keep the pipelined replies in step.
			if err := body.drain(2*f.MaxMessageSize + maxListing); err != nil {
				return c.dog.explain(err)
			}
		}
	}
	if err := pp.finish(); err != nil {
		return err
	}
	if len(s.waitFor) > 0 {
		c.dog.pause()
		_, err := f.settle(ctx, a, f.settleWait(), s.waitFor, res)
		c.dog.resume()
		if err != nil {
			return err
		}
	}
	var dele []popMsg
	if a.After == "delete" {
		rows, err := f.Store.FetchedInFolder(ctx, a.Name, popFolder, 0)
		if err != nil {
			return fail(CauseLocal, "read what was fetched", err, nil)
		}
		for _, m := range list {
			if r, ok := rows[m.uidl]; ok && r.State == fetchstate.FetchDelivered && !r.Removed {
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
	return s.failure(a)
}
