package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Steps of an SMTP session, as diag.Remote.Step names them.
const (
	stepDNS      = "dns"
	stepConnect  = "connect"
	stepGreeting = "greeting"
	stepEHLO     = "ehlo"
	stepSTARTTLS = "starttls"
	stepAuth     = "auth"
	stepMail     = "mail"
	stepRcpt     = "rcpt"
	stepData     = "data"
	stepEnd      = "end-of-data"
	stepRSET     = "rset"
)

// reply is one SMTP reply (RFC 5321 §4.2), enhanced code (RFC 3463) split
// off the text of every line.
type reply struct {
	Code     int
	Enhanced string // "4.7.1", "" when the server sent none
	Text     string // the lines joined by "\n"
}

func (r *reply) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + strings.ReplaceAll(r.Text, "\n", " / ")
	}
	return s
}

// stepError is a failure at one step of a session: a reply that was not
// the one wanted, or a network/TLS error (Reply nil).
type stepError struct {
	Step  string
	Reply *reply
	Err   error
	// Conn marks a failure to get a working session (connect, greeting,
	// EHLO, TLS): what counts toward a dead destination.
	Conn bool
	// Pipelined: no reply came to a pipelined group (RFC 2920).
	Pipelined bool
	// Stale: the RSET of a reused session failed: it is gone, and a
	// fresh one may be tried at once.
	Stale bool
}

func (e *stepError) Error() string {
	if e.Reply != nil {
		return fmt.Sprintf("%s: %s", strings.ToUpper(e.Step), e.Reply)
	}
	return fmt.Sprintf("%s: %v", e.Step, e.Err)
}

func (e *stepError) Unwrap() error { return e.Err }

// conn is one SMTP client session. Its own small client rather than
// go-smtp's: it pipelines MAIL, RCPT and DATA (RFC 2920), names the step
// of every failure and keeps whole replies for diag.Remote.
type conn struct {
	nc     net.Conn
	r      *textproto.Reader
	w      *bufio.Writer
	tw     *textproto.Writer
	host   string // MX or smarthost name
	ip     string
	port   string
	ext    map[string]string // EHLO keywords, upper case
	tls    *tls.ConnectionState
	opened time.Time
	used   int
	broken bool // the session is in an unknown state: do not reuse
	// rset: a reused session; RSET goes first in the next pipelined
	// group (RFC 2920 §3.1 allows it anywhere), saving a round trip.
	rset bool
	// downgraded holds the handshake error when STARTTLS failed and the
	// session went on in the clear (relay.tls = may).
	downgraded string
	// policy says which TLS policy the session met and how (DANE's
	// matched record, MTA-STS, the admin's level, opportunistic); what
	// the message's own plan waived is added per message (policyFor).
	policy string
	// waived is what was waived on the way to this session (connect:
	// dane.exempt, an MX an MTA-STS policy in testing mode does not
	// list): said for each message it carries (policyFor). stsID is the
	// MTA-STS policy it was opened under: reused only for a message
	// under the same one (reuse).
	waived map[string]string
	stsID  string
	// daneLevel: the session was opened under DANE (its level is "dane",
	// not the attempt's).
	daneLevel bool
	// writeWait bounds each write (progressWriter): the command timeout,
	// or relay.data_timeout while the data goes.
	writeWait time.Duration
	// ended: the attempt's context is done (watch); no new deadline may
	// lift the one in the past that stops blocked reads and writes.
	ended atomic.Bool
}

func newConn(nc net.Conn, host, ip, port string) *conn {
	c := &conn{host: host, ip: ip, port: port, opened: time.Now()}
	c.setConn(nc)
	return c
}

func (c *conn) setConn(nc net.Conn) {
	c.nc = nc
	c.r = textproto.NewReader(bufio.NewReaderSize(nc, 4096))
	c.w = bufio.NewWriterSize(progressWriter{c}, 32<<10)
	c.tw = textproto.NewWriter(c.w)
}

// progressWriter gives each write to the connection its own deadline,
// c.writeWait from its start: RFC 5321 §4.5.3.2.5 bounds the wait for
// each chunk of the data to be taken, not the whole transfer, so a large
// message to a slow but steady server goes through, and one that stops
// taking data is given up after one timeout.
type progressWriter struct{ c *conn }

func (w progressWriter) Write(p []byte) (int, error) {
	if w.c.writeWait > 0 {
		w.c.deadline(w.c.nc.SetWriteDeadline, w.c.writeWait)
	}
	return w.c.nc.Write(p)
}

// deadline sets a read or write deadline d from now, unless the attempt
// ended (watch): then the deadline stays in the past, whichever of the
// two came first.
func (c *conn) deadline(set func(time.Time) error, d time.Duration) {
	set(time.Now().Add(d))
	if c.ended.Load() {
		set(time.Unix(1, 0))
	}
}

// name is host[ip] as Postfix writes a peer.
func (c *conn) name() string { return fmt.Sprintf("%s[%s]", c.host, c.ip) }

// watch makes ctx's end interrupt blocked reads and writes.
func (c *conn) watch(ctx context.Context) (stop func() bool) {
	c.ended.Store(false) // a session kept from an earlier attempt
	return context.AfterFunc(ctx, func() {
		c.ended.Store(true)
		c.nc.SetDeadline(time.Unix(1, 0))
	})
}

// readReply reads one (possibly multiline) reply within timeout.
func (c *conn) readReply(timeout time.Duration) (*reply, error) {
	c.deadline(c.nc.SetReadDeadline, timeout)
	var lines []string
	code := 0
	for {
		line, err := readLine(c.r.R)
		if err != nil {
			c.broken = true
			return nil, err
		}
		if len(line) < 3 {
			c.broken = true
			return nil, fmt.Errorf("malformed reply line %q", line)
		}
		n, err := strconv.Atoi(line[:3])
		if err != nil || n < 200 || n > 599 {
			c.broken = true
			return nil, fmt.Errorf("malformed reply line %q", line)
		}
		if code != 0 && n != code {
			c.broken = true
			return nil, fmt.Errorf("reply code changed within a multiline reply: %q", line)
		}
		code = n
		more := len(line) > 3 && line[3] == '-'
		if len(line) > 3 && line[3] != '-' && line[3] != ' ' {
			c.broken = true
			return nil, fmt.Errorf("malformed reply line %q", line)
		}
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		lines = append(lines, text)
		if !more {
			break
		}
		if len(lines) > 1000 {
			c.broken = true
			return nil, errors.New("reply longer than 1000 lines")
		}
	}
	return parseReply(code, lines), nil
}

// readLine reads one reply line without its line end, bounded by the
// reader's 4 KiB buffer (RFC 5321 §4.5.3.1.5 allows 512 octets): a server
// that never ends a line cannot make memory grow, as textproto's
// ReadLine would let it.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("a reply line is longer than %d bytes (RFC 5321 §4.5.3.1.5 allows 512)", br.Size())
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// parseReply splits the enhanced status code (RFC 2034 §4: on every line)
// from the text.
func parseReply(code int, lines []string) *reply {
	r := &reply{Code: code}
	if len(lines) > 0 {
		if f, _, _ := strings.Cut(lines[0], " "); isEnhanced(f, code) {
			r.Enhanced = f
		}
	}
	for i, l := range lines {
		if r.Enhanced != "" {
			if f, rest, ok := strings.Cut(l, " "); ok && f == r.Enhanced {
				l = rest
			} else if l == r.Enhanced {
				l = ""
			}
		}
		lines[i] = l
	}
	r.Text = strings.Join(lines, "\n")
	return r
}

// isEnhanced reports whether s is class.subject.detail with the class of
// the reply code (RFC 3463 §2).
func isEnhanced(s string, code int) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || len(p[0]) != 1 || p[0][0] != byte('0'+code/100) {
		return false
	}
	for _, x := range p[1:] {
		if len(x) == 0 || len(x) > 3 {
			return false
		}
		if _, err := strconv.Atoi(x); err != nil {
			return false
		}
	}
	return true
}

// send writes lines (each without CRLF) and flushes once: with
// PIPELINING several commands go in one packet.
func (c *conn) send(timeout time.Duration, lines ...string) error {
	c.writeWait = timeout
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return fmt.Errorf("line break in command %q", l)
		}
		c.w.WriteString(l)
		c.w.WriteString("\r\n")
	}
	if err := c.w.Flush(); err != nil {
		c.broken = true
		return err
	}
	return nil
}

// cmd sends one command and reads its reply.
func (c *conn) cmd(timeout time.Duration, step, line string) (*reply, error) {
	if err := c.send(timeout, line); err != nil {
		return nil, &stepError{Step: step, Err: err}
	}
	r, err := c.readReply(timeout)
	if err != nil {
		return nil, &stepError{Step: step, Err: err}
	}
	return r, nil
}

// greet reads the 220 greeting and says EHLO (HELO when EHLO is refused
// with 500/502, RFC 5321 §3.2).
func (c *conn) greet(timeout time.Duration, helo string) error {
	r, err := c.readReply(timeout)
	if err != nil {
		return &stepError{Step: stepGreeting, Err: err, Conn: true}
	}
	if r.Code != 220 {
		c.broken = true
		return &stepError{Step: stepGreeting, Reply: r, Conn: true}
	}
	return c.ehlo(timeout, helo)
}

func (c *conn) ehlo(timeout time.Duration, helo string) error {
	r, err := c.cmd(timeout, stepEHLO, "EHLO "+helo)
	if err != nil {
		err.(*stepError).Conn = true
		return err
	}
	if r.Code == 500 || r.Code == 502 {
		r, err = c.cmd(timeout, stepEHLO, "HELO "+helo)
		if err != nil {
			err.(*stepError).Conn = true
			return err
		}
		if r.Code == 250 {
			c.ext = map[string]string{}
			return nil
		}
	}
	if r.Code != 250 {
		c.broken = true
		return &stepError{Step: stepEHLO, Reply: r, Conn: true}
	}
	c.ext = map[string]string{}
	lines := strings.Split(r.Text, "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *conn) has(ext string) bool { _, ok := c.ext[ext]; return ok }

// maxSize is the server's SIZE limit (RFC 1870), 0 when it gave none.
func (c *conn) maxSize() int64 {
	v, ok := c.ext["SIZE"]
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return max(n, 0)
}

// startTLS runs STARTTLS and the second EHLO (RFC 3207 §4.2).
func (c *conn) startTLS(ctx context.Context, timeout time.Duration, cfg *tls.Config, helo string) error {
	r, err := c.cmd(timeout, stepSTARTTLS, "STARTTLS")
	if err != nil {
		err.(*stepError).Conn = true
		return err
	}
	if r.Code != 220 {
		return &stepError{Step: stepSTARTTLS, Reply: r, Conn: true}
	}
	if err := c.handshake(ctx, timeout, cfg); err != nil {
		return err
	}
	return c.ehlo(timeout, helo)
}

func (c *conn) handshake(ctx context.Context, timeout time.Duration, cfg *tls.Config) error {
	tc := tls.Client(c.nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.broken = true
		return &stepError{Step: stepSTARTTLS, Err: fmt.Errorf("TLS handshake: %w", err), Conn: true}
	}
	st := tc.ConnectionState()
	c.tls = &st
	c.setConn(tc)
	return nil
}

// auth logs in with PLAIN (RFC 4616) or LOGIN, whichever the server
// offers, PLAIN first. Only over TLS: the caller checks.
func (c *conn) auth(timeout time.Duration, user, pass string) error {
	mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	var r *reply
	var err error
	switch {
	case has("PLAIN"):
		resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		r, err = c.cmd(timeout, stepAuth, "AUTH PLAIN "+resp)
	case has("LOGIN"):
		r, err = c.cmd(timeout, stepAuth, "AUTH LOGIN")
		for _, s := range []string{user, pass} {
			if err != nil || r.Code != 334 {
				break
			}
			r, err = c.cmd(timeout, stepAuth, base64.StdEncoding.EncodeToString([]byte(s)))
		}
	default:
		return &stepError{Step: stepAuth, Err: fmt.Errorf("the server offers no AUTH mechanism ebb knows (it offers %q; ebb speaks PLAIN and LOGIN)", c.ext["AUTH"])}
	}
	if err != nil {
		return err
	}
	if r.Code != 235 {
		c.broken = true
		return &stepError{Step: stepAuth, Reply: r}
	}
	return nil
}

// txn is one mail transaction: one sender, one or more recipients (RFC
// 5321 §3.3), the data once.
type txn struct {
	mailArgs string // after MAIL FROM:<...>
	from     string
	rcpts    []txnRcpt
	// write writes the message (prefix and spool data) in wire form.
	write func(w io.Writer) error
}

type txnRcpt struct {
	addr, args string
}

// transact runs MAIL, the RCPTs, DATA (pipelined when offered), the data
// and the final dot. refused[i] is set when recipient i was refused at
// RCPT; whole is a failure of the transaction itself (MAIL, DATA, the end
// of data, the connection), which concerns every recipient not refused.
// final is the reply to the end of data when the data went.
func (c *conn) transact(cmdTimeout, dataTimeout time.Duration, t *txn) (refused []error, final *reply, whole error) {
	c.used++
	refused = make([]error, len(t.rcpts))
	mail := "MAIL FROM:<" + t.from + ">" + t.mailArgs
	rcpts := make([]string, len(t.rcpts))
	for i, r := range t.rcpts {
		rcpts[i] = "RCPT TO:<" + r.addr + ">" + r.args
	}
	var mr, dr *reply
	var err error
	accepted := 0
	if c.has("PIPELINING") {
		// RFC 2920 §3.1: DATA may end a group; the replies come in order.
		group := append(append([]string{mail}, rcpts...), "DATA")
		rset := c.rset
		c.rset = false
		if rset {
			group = append([]string{"RSET"}, group...)
		}
		if err := c.send(cmdTimeout, group...); err != nil {
			return refused, nil, &stepError{Step: stepMail, Err: err, Stale: rset}
		}
		if rset {
			// A cached session the server dropped silently must not
			// cost a whole command timeout (Postfix: smtp_rset_timeout).
			rr, err := c.readReply(min(cmdTimeout, 20*time.Second))
			if err != nil {
				return refused, nil, &stepError{Step: stepRSET, Err: err, Stale: true}
			}
			if rr.Code != 250 {
				c.broken = true
				return refused, nil, &stepError{Step: stepRSET, Reply: rr, Stale: true}
			}
		}
		if mr, err = c.readReply(cmdTimeout); err != nil {
			return refused, nil, &stepError{Step: stepMail, Err: err, Pipelined: true}
		}
		if closing(mr) {
			// RFC 5321 §3.8: a 421 ends the session; no reply to the
			// rest of the group will come. The remote's words are the
			// reason, not the end of the connection that follows.
			c.broken = true
			return refused, nil, &stepError{Step: stepMail, Reply: mr}
		}
		for i := range rcpts {
			rr, err := c.readReply(cmdTimeout)
			if err != nil {
				if mr.Code != 250 {
					// The server refused MAIL and hung up: its refusal
					// says why, the lost RCPT replies do not.
					return refused, nil, &stepError{Step: stepMail, Reply: mr}
				}
				return refused, nil, &stepError{Step: stepRcpt, Err: err}
			}
			if closing(rr) {
				c.broken = true
				return refused, nil, &stepError{Step: stepRcpt, Reply: rr}
			}
			if mr.Code == 250 && rr.Code != 250 && rr.Code != 251 {
				refused[i] = &stepError{Step: stepRcpt, Reply: rr}
			} else if mr.Code == 250 {
				accepted++
			}
		}
		if dr, err = c.readReply(cmdTimeout); err != nil {
			if mr.Code != 250 {
				return refused, nil, &stepError{Step: stepMail, Reply: mr}
			}
			return refused, nil, &stepError{Step: stepData, Err: err}
		}
		if closing(dr) {
			c.broken = true
			if mr.Code != 250 {
				return refused, nil, &stepError{Step: stepMail, Reply: mr}
			}
			return refused, nil, &stepError{Step: stepData, Reply: dr}
		}
	} else {
		if mr, err = c.cmd(cmdTimeout, stepMail, mail); err != nil {
			return refused, nil, err
		}
		if closing(mr) {
			c.broken = true
			return refused, nil, &stepError{Step: stepMail, Reply: mr}
		}
		if mr.Code == 250 {
			for i, l := range rcpts {
				rr, err := c.cmd(cmdTimeout, stepRcpt, l)
				if err != nil {
					return refused, nil, err
				}
				if closing(rr) {
					c.broken = true
					return refused, nil, &stepError{Step: stepRcpt, Reply: rr}
				}
				if rr.Code != 250 && rr.Code != 251 {
					refused[i] = &stepError{Step: stepRcpt, Reply: rr}
				} else {
					accepted++
				}
			}
			if accepted > 0 {
				if dr, err = c.cmd(cmdTimeout, stepData, "DATA"); err != nil {
					return refused, nil, err
				}
				if closing(dr) {
					c.broken = true
					return refused, nil, &stepError{Step: stepData, Reply: dr}
				}
			}
		}
	}
	// cleanup ends a transaction that will not carry data: an empty
	// message if the server took DATA anyway (RFC 2920 §3.1), then RSET
	// for the next transaction on this session.
	cleanup := func() {
		if dr != nil && dr.Code == 354 {
			if err := c.send(cmdTimeout, "."); err != nil {
				return
			}
			if _, err := c.readReply(dataTimeout); err != nil {
				c.broken = true
			}
		}
		if !c.broken {
			if rs, err := c.cmd(cmdTimeout, stepRSET, "RSET"); err != nil || rs.Code != 250 {
				c.broken = true
			}
		}
	}
	if mr.Code != 250 {
		cleanup()
		return refused, nil, &stepError{Step: stepMail, Reply: mr}
	}
	if accepted == 0 {
		cleanup()
		return refused, nil, nil
	}
	if dr.Code != 354 {
		cleanup()
		return refused, nil, &stepError{Step: stepData, Reply: dr}
	}
	c.writeWait = dataTimeout
	dw := c.tw.DotWriter()
	if err := t.write(dw); err != nil {
		c.broken = true
		return refused, nil, &stepError{Step: stepEnd, Err: err}
	}
	if err := dw.Close(); err != nil {
		c.broken = true
		return refused, nil, &stepError{Step: stepEnd, Err: err}
	}
	if err := c.w.Flush(); err != nil {
		c.broken = true
		return refused, nil, &stepError{Step: stepEnd, Err: err}
	}
	fr, err := c.readReply(dataTimeout)
	if err != nil {
		// RFC 5321 §6.1 / RFC 1047: no reply after the dot means we do
		// not know; retrying may make a duplicate, which beats a loss.
		return refused, nil, &stepError{Step: stepEnd, Err: err}
	}
	if fr.Code != 250 {
		if closing(fr) {
			c.broken = true
		}
		return refused, nil, &stepError{Step: stepEnd, Reply: fr}
	}
	return refused, fr, nil
}

// closing reports a reply after which the server closes the session: 421
// (RFC 5321 §3.8), to any command.
func closing(r *reply) bool { return r.Code == 421 }

// reset readies a reused session for the next transaction (RFC 5321
// §4.1.1.5).
func (c *conn) reset(timeout time.Duration) error {
	r, err := c.cmd(timeout, stepRSET, "RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		c.broken = true
		return &stepError{Step: stepRSET, Reply: r}
	}
	return nil
}

// quit ends the session politely, without waiting long.
func (c *conn) quit() {
	if !c.broken {
		c.nc.SetDeadline(time.Now().Add(2 * time.Second))
		if c.send(2*time.Second, "QUIT") == nil {
			c.readReply(2 * time.Second)
		}
	}
	c.nc.Close()
}

func (c *conn) close() { c.nc.Close() }

// level is the TLS level the session was opened at: "dane" for a host
// DANE applied to, else the attempt's.
func (c *conn) level(a *attempt) string {
	if c.daneLevel {
		return "dane"
	}
	return a.level
}

// tlsSummary is "TLSv1.3 TLS_AES_128_GCM_SHA256" or "none".
func (c *conn) tlsSummary() string {
	if c.tls == nil {
		return "none"
	}
	return tls.VersionName(c.tls.Version) + " " + tls.CipherSuiteName(c.tls.CipherSuite)
}
