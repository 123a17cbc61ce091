package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/ebbmail/ebb/internal/bufpool"
	"github.com/ebbmail/ebb/internal/envaddr"
)

// The protocol engine: the server side of one SMTP connection (RFC 5321),
// with PIPELINING (RFC 2920), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
// SIZE (RFC 1870), DSN (RFC 3461), ENHANCEDSTATUSCODES (RFC 2034, codes of
// RFC 3463), CHUNKING (RFC 3030), STARTTLS (RFC 3207), AUTH (RFC 4954,
// mechanisms from go-sasl) and REQUIRETLS (RFC 8689). It parses and
// sequences the commands, reads the message, and writes the replies; what
// to accept is the Handler's to say. ebb's session (session.go) is one
// Handler; ebb sendmail -bs and the relay's tests have others.

// Handler decides what the engine cannot: whom to greet, which sender and
// recipients to take, and what becomes of a message. To refuse, a method
// returns a *Reply; any other error is the server's own trouble and the
// client gets 451 4.3.0 (principle 4: our trouble is temporary).
type Handler interface {
	// Hello is HELO or EHLO with the client's name; tls is the TLS state
	// (nil in the clear). After STARTTLS the client greets again and
	// Hello sees the TLS state.
	Hello(name string, tls *tls.ConnectionState) error
	// Mail starts a transaction; from is "" for the null sender.
	Mail(from string, opts *MailOptions) error
	// Rcpt adds a recipient. to is "Postmaster" (as sent) for the
	// domainless postmaster of RFC 5321 §4.1.1.3.
	Rcpt(to string, opts *RcptOptions) error
	// Data reads the message (DATA or BDAT: dot-unstuffed, up to its
	// end, each bare LF made CRLF: barelf.go) and returns the reply to it: nil is "250 2.0.0 Ok: queued", a
	// *Reply is sent as it is (a 250 with the queue id too). It should read
	// r to its end; the engine skips what is left.
	Data(r io.Reader) error
	// Reset ends the transaction: RSET, HELO/EHLO, STARTTLS, the end of a
	// message.
	Reset()
}

// RefusalHandler is a Handler told of the refusals the engine makes on its
// own, before each is sent: the replies that close the connection (a
// timeout, too many unrecognised commands, a command line too long, the
// engine's own trouble), a sender whose SIZE= is over
// Protocol.MaxMessageBytes and a recipient over Protocol.MaxRecipients.
// stage is "connection" for a closing, "mail" for the sender (addr),
// "rcpt" for a recipient (addr);
// cause is why (the read's error, or nil). It returns the reply to send
// (ebb's session adds a reference id and journals it: principle 1).
type RefusalHandler interface {
	Refusing(stage, addr string, cause error, r *Reply) *Reply
}

// AuthHandler is a Handler that offers AUTH (RFC 4954).
type AuthHandler interface {
	// AuthMechanisms are the SASL mechanisms offered now (none: no AUTH).
	AuthMechanisms() []string
	// Auth starts an exchange; the sasl.Server's errors (a *Reply, such
	// as 535 5.7.8) become the reply.
	Auth(mech string) (sasl.Server, error)
}

// Protocol is how the engine speaks on a connection.
type Protocol struct {
	// Hostname is our name in the greeting and the replies.
	Hostname string
	// MaxMessageBytes is the SIZE limit (0: none): advertised, checked at
	// MAIL SIZE=, and enforced on DATA and BDAT (552 5.3.4).
	MaxMessageBytes int64
	// MaxRecipients bounds RCPT per transaction (452 4.5.3; 0: none).
	MaxRecipients int
	// TLS, when set, offers STARTTLS on a connection that is not TLS yet.
	TLS *tls.Config
	// AuthInClear offers AUTH without TLS (never for ebb's listeners: a
	// test or a local pipe).
	AuthInClear bool
	// No8BITMIME, NoSMTPUTF8, NoDSN and NoREQUIRETLS leave those
	// extensions out (a test that plays a server without them).
	No8BITMIME, NoSMTPUTF8, NoDSN, NoREQUIRETLS bool
	// CommandTimeout and DataTimeout bound every read (RFC 5321
	// §4.5.3.2): of a command, and within a message; and every write.
	CommandTimeout, DataTimeout time.Duration
	// Replied, when set, is called with the code of every reply before it
	// is written (metrics; a 221 or 421 ends the connection).
	Replied func(code int)
	// Waiting, when set, is called whenever every reply has been sent and
	// the engine waits for the client's next command: the connection is
	// idle.
	Waiting func()
}

// maxErrors is how many unrecognised or malformed commands a client may
// send before it is disconnected (what ebb has always allowed): an HTTP
// request or a cross-protocol attack gets no further.
const maxErrors = 3

// ServeConn speaks SMTP on nc until the client quits, the connection
// breaks or times out, or a 421 ends it; it does not close nc. When nc is
// a *tls.Conn (implicit TLS, RFC 8314), the handshake comes first. The
// error says why the connection ended, when that was not the client's
// QUIT or close.
func ServeConn(nc net.Conn, h Handler, p *Protocol) (err error) {
	w := &wire{nc: nc, h: h, p: p}
	w.br = bufpool.Reader(wireReader{w})
	w.bw = bufio.NewWriterSize(wireWriter{w}, 1024)
	defer bufpool.PutReader(w.br)
	if tc, ok := nc.(*tls.Conn); ok {
		if d := p.CommandTimeout; d > 0 {
			nc.SetDeadline(time.Now().Add(d))
		}
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		st := tc.ConnectionState()
		w.tls = &st
	}
	defer func() {
		if v := recover(); v != nil {
			// A bug in a handler ends this connection, not the server.
			w.refusing("connection", "", fmt.Errorf("panic: %v", v), &Reply{Code: 421, Enhanced: [3]int{4, 3, 0}, Message: p.Hostname + " Local error, closing connection"})
			w.bw.Flush()
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	w.lines(220, p.Hostname+" ESMTP ready")
	for !w.quit {
		cmd, err := w.next()
		if err != nil {
			return w.readFailed(err)
		}
		w.dispatch(cmd)
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.broken
}

// wire is one connection's state.
type wire struct {
	nc net.Conn // TLS after STARTTLS
	br *bufio.Reader
	bw *bufio.Writer
	h  Handler
	p  *Protocol

	helo    bool                 // HELO or EHLO accepted
	tls     *tls.ConnectionState // nil in the clear
	authed  bool
	mail    bool // in a transaction
	rcpts   int
	errors  int
	inData  bool     // reading a message: the data timeout applies
	pending *command // read during a BDAT transfer, to be done next
	quit    bool
	broken  error // the connection failed (read or write)
}

// wireReader is what the buffered reader reads: the connection as it is
// now. Every reply not yet sent goes out before a read (RFC 2920 §3.2:
// replies may wait while pipelined commands are in the buffer, never
// while the server waits for the client), and every read has its
// deadline.
type wireReader struct{ w *wire }

func (r wireReader) Read(p []byte) (int, error) {
	w := r.w
	if w.bw.Buffered() > 0 {
		if err := w.bw.Flush(); err != nil {
			return 0, err
		}
	}
	if w.inData {
		w.deadline(w.p.DataTimeout)
	} else {
		w.deadline(w.p.CommandTimeout)
	}
	n, err := w.nc.Read(p)
	if err != nil && w.broken == nil {
		w.broken = err
	}
	return n, err
}

type wireWriter struct{ w *wire }

func (ww wireWriter) Write(p []byte) (int, error) {
	w := ww.w
	if d := w.p.CommandTimeout; d > 0 {
		w.nc.SetWriteDeadline(time.Now().Add(d))
	}
	n, err := w.nc.Write(p)
	if err != nil && w.broken == nil {
		w.broken = err
	}
	return n, err
}

func (w *wire) deadline(d time.Duration) {
	if d > 0 {
		w.nc.SetReadDeadline(time.Now().Add(d))
	}
}

// errLineTooLongCmd is a command line over maxLineLength.
var errLineTooLongCmd = errors.New("command line too long")

// next is the next command: one read during a BDAT transfer, or the next
// line from the client.
func (w *wire) next() (command, error) {
	if c := w.pending; c != nil {
		w.pending = nil
		return *c, nil
	}
	return w.readCommand()
}

// readCommand reads one command line. A line may end in CRLF or, as
// clients send, a bare LF: a command line is never stored or passed on.
func (w *wire) readCommand() (command, error) {
	if w.br.Buffered() == 0 {
		if err := w.bw.Flush(); err != nil {
			return command{}, err
		}
		if w.p.Waiting != nil && !w.inData {
			w.p.Waiting()
		}
	}
	line, err := w.readLine()
	if err != nil {
		return command{}, err
	}
	cmd, perr := parseCommand(line)
	if perr != nil {
		cmd = command{verb: "?"} // dispatch answers 500: not recognized
	}
	return cmd, nil
}

// readLine reads up to a LF, at most maxLineLength octets.
func (w *wire) readLine() ([]byte, error) {
	line, err := w.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || err == nil && len(line) > maxLineLength {
		return nil, errLineTooLongCmd
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return line, nil
}

// readFailed ends the connection after a failed read, with a last reply
// where one helps: 500 for a line too long (RFC 5321 §4.2.2), 421 4.4.2
// for a timeout (§4.5.3.2). A closed connection ends quietly.
func (w *wire) readFailed(err error) error {
	var ne net.Error
	switch {
	case err == errLineTooLongCmd:
		w.refusing("connection", "", err, &Reply{Code: 500, Enhanced: [3]int{5, 5, 2}, Message: fmt.Sprintf("Line longer than %d octets, closing connection", maxLineLength)})
	case errors.As(err, &ne) && ne.Timeout():
		w.refusing("connection", "", err, &Reply{Code: 421, Enhanced: [3]int{4, 4, 2}, Message: w.p.Hostname + " Timeout waiting for the client, closing connection"})
	case err == io.EOF || errors.Is(err, net.ErrClosed):
		return nil
	default:
		return err
	}
	w.bw.Flush()
	return err
}

// dispatch does one command (RFC 5321 §4.1.1; the sequence of §4.1.4).
func (w *wire) dispatch(c command) {
	switch c.verb {
	case "HELO", "EHLO":
		w.hello(c)
	case "MAIL":
		w.mailFrom(c.arg)
	case "RCPT":
		w.rcptTo(c.arg)
	case "DATA":
		w.data(c.arg)
	case "BDAT":
		w.bdat(c.arg)
	case "RSET": // §4.1.1.5
		w.resetTxn()
		w.reply(250, [3]int{2, 0, 0}, "Ok")
	case "NOOP": // §4.1.1.9
		w.reply(250, [3]int{2, 0, 0}, "Ok")
	case "QUIT": // §4.1.1.10
		w.reply(221, [3]int{2, 0, 0}, w.p.Hostname+" closing connection")
		w.quit = true
	case "VRFY": // §3.5.3: 252, we do not say who exists
		if c.arg == "" {
			w.reply(501, [3]int{5, 5, 4}, "VRFY needs an address")
			return
		}
		w.reply(252, [3]int{2, 5, 0}, "Not verifying addresses; send the message and RCPT will tell")
	case "EXPN": // §3.5.2: lists are not shown
		w.reply(502, [3]int{5, 5, 1}, "EXPN is not available here")
	case "HELP": // §4.1.1.8
		w.reply(214, [3]int{2, 0, 0}, "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH")
	case "STARTTLS":
		w.startTLS(c.arg)
	case "AUTH":
		w.auth(c.arg)
	case "":
		w.protocolError("Empty command")
	default:
		w.protocolError("Command not recognized")
	}
}

// protocolError answers a command that is none (§4.2.4: 500) and counts
// it; past maxErrors the connection ends with 421 (§3.8).
func (w *wire) protocolError(text string) {
	w.reply(500, [3]int{5, 5, 2}, text)
	w.errors++
	if w.errors > maxErrors {
		w.refusing("connection", "", fmt.Errorf("%d unrecognized or empty commands, at most %d are taken", w.errors, maxErrors),
			&Reply{Code: 421, Enhanced: [3]int{4, 7, 0}, Message: w.p.Hostname + " Too many unrecognized commands, closing connection"})
		w.quit = true
	}
}

// resetTxn ends the transaction (RSET, a new HELO/EHLO, the end of a
// message, STARTTLS).
func (w *wire) resetTxn() {
	w.mail, w.rcpts = false, 0
	w.h.Reset()
}

// refusing sends a refusal of the engine's own, as the Handler makes it
// (RefusalHandler), or as it is.
func (w *wire) refusing(stage, addr string, cause error, r *Reply) {
	if rh, ok := w.h.(RefusalHandler); ok {
		if c := rh.Refusing(stage, addr, cause, r); c != nil {
			r = c
		}
	}
	w.send(r)
}

// reply writes a reply with an enhanced status code (RFC 2034 §3; a zero
// code is X.0.0 of the reply's class).
func (w *wire) reply(code int, enh [3]int, text string) {
	w.send(&Reply{Code: code, Enhanced: enh, Message: text})
}

// send writes r, one line per line of its text, each with the enhanced
// code. Text a handler gives is made safe for the wire: no line end inside
// a line, no control characters.
func (w *wire) send(r *Reply) {
	enh := r.Enhanced
	if enh == [3]int{} && (r.Code/100 == 2 || r.Code/100 == 4 || r.Code/100 == 5) {
		enh = [3]int{r.Code / 100, 0, 0}
	}
	if w.p.Replied != nil {
		w.p.Replied(r.Code)
	}
	for msg, more := r.Message, true; more; {
		var l string
		l, msg, more = strings.Cut(msg, "\n")
		w.line(r.Code, more, enh, replyText(l))
	}
	w.ended(r.Code)
}

// lines writes a reply as given (the greeting, EHLO: no enhanced code).
func (w *wire) lines(code int, lines ...string) {
	if w.p.Replied != nil {
		w.p.Replied(code)
	}
	for i, l := range lines {
		w.line(code, i < len(lines)-1, [3]int{}, l)
	}
	w.ended(code)
}

// line writes one line of a reply: the code, "-" when more lines follow
// (" " on the last), the enhanced code when there is one, the text.
// Written straight into the connection's buffer: a reply is on every
// command's path (fmt and a slice of lines per reply were a fifth of the
// engine's allocations per message, BenchmarkData).
func (w *wire) line(code int, more bool, enh [3]int, text string) {
	b := w.bw.AvailableBuffer() // appended to in place: no allocation per line
	if code >= 0 && code <= 999 {
		b = append(b, byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10))
	} else {
		b = fmt.Appendf(b, "%03d", code) // no reply code; as it always was written
	}
	if more {
		b = append(b, '-')
	} else {
		b = append(b, ' ')
	}
	if enh != [3]int{} {
		b = strconv.AppendInt(b, int64(enh[0]), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(enh[1]), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(enh[2]), 10)
		b = append(b, ' ')
	}
	w.bw.Write(b)
	w.bw.WriteString(text)
	w.bw.WriteString("\r\n")
}

// ended notes a reply that ends the connection (221, 421).
func (w *wire) ended(code int) {
	if code == 221 || code == 421 {
		w.quit = true
	}
}

// replyText keeps a reply line one line of printable text (RFC 5321
// §4.2: textstring is HT, SP and printable ASCII; RFC 6531 §3.7.4.2
// allows UTF-8): control characters become "?".
func replyText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// clip shows a client's address or name in a reply.
func clip(s string) string { return envaddr.Clip(s) }

// replyOf is the reply for a handler's error: a *Reply as it is, anything
// else as our own trouble, temporary (principle 4).
func replyOf(err error) *Reply {
	var r *Reply
	if errors.As(err, &r) {
		return r
	}
	return &Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Message: "Local error in processing, try again later"}
}
