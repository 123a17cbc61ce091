package smtpd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The commands of a mail transaction: HELO/EHLO, MAIL, RCPT, DATA, BDAT.

// hello is HELO and EHLO (RFC 5321 §4.1.1.1). Like RSET it ends a
// transaction (§4.1.4).
func (w *wire) hello(c command) {
	name, _, _ := strings.Cut(c.arg, " ")
	if name == "" {
		w.reply(501, [3]int{5, 5, 4}, c.verb+" needs your domain name or address literal")
		return
	}
	if err := w.h.Hello(name, w.tls); err != nil {
		w.send(replyOf(err))
		return
	}
	w.resetTxn()
	w.helo = true
	greet := w.p.Hostname + " Hello " + clip(name)
	if c.verb == "HELO" {
		w.lines(250, greet)
		return
	}
	w.lines(250, append([]string{greet}, w.extensions()...)...)
}

// extensions are the EHLO keywords offered now.
func (w *wire) extensions() []string {
	p := w.p
	ext := []string{"PIPELINING"}
	if !p.No8BITMIME {
		ext = append(ext, "8BITMIME")
	}
	if !p.NoSMTPUTF8 {
		ext = append(ext, "SMTPUTF8")
	}
	if p.MaxMessageBytes > 0 {
		ext = append(ext, fmt.Sprintf("SIZE %d", p.MaxMessageBytes))
	} else {
		ext = append(ext, "SIZE")
	}
	if !p.NoDSN {
		ext = append(ext, "DSN")
	}
	ext = append(ext, "ENHANCEDSTATUSCODES", "CHUNKING")
	if p.TLS != nil && w.tls == nil {
		ext = append(ext, "STARTTLS")
	}
	if mechs := w.authMechanisms(); len(mechs) > 0 && (w.tls != nil || p.AuthInClear) {
		ext = append(ext, "AUTH "+strings.Join(mechs, " "))
	}
	if w.tls != nil && !p.NoREQUIRETLS {
		// RFC 8689 §4: offered only over TLS.
		ext = append(ext, "REQUIRETLS")
	}
	if p.MaxRecipients > 0 {
		ext = append(ext, fmt.Sprintf("LIMITS RCPTMAX=%d", p.MaxRecipients)) // RFC 9422
	}
	return ext
}

func (w *wire) authMechanisms() []string {
	if a, ok := w.h.(AuthHandler); ok {
		return a.AuthMechanisms()
	}
	return nil
}

// mailFrom is MAIL FROM (RFC 5321 §4.1.1.2).
func (w *wire) mailFrom(arg string) {
	switch {
	case !w.helo:
		w.reply(503, [3]int{5, 5, 1}, "Send EHLO or HELO first")
		return
	case w.mail:
		w.reply(503, [3]int{5, 5, 1}, "Nested MAIL command: a transaction is open, send RSET first")
		return
	}
	rest, ok := cutKeyword(arg, "FROM:")
	if !ok {
		w.reply(501, [3]int{5, 5, 4}, "Syntax: MAIL FROM:<address>")
		return
	}
	from, params, err := parsePath(rest, true, false)
	if err != nil {
		// RFC 3463 X.1.7: bad sender's mailbox address syntax.
		w.reply(501, [3]int{5, 1, 7}, "Bad sender address syntax: "+err.Error())
		return
	}
	opts, rep := w.p.mailOptions(params)
	if rep != nil && rep.Code == 552 {
		w.refusing("mail", from, nil, rep) // SIZE= over the limit: the message is refused
		return
	}
	if rep != nil {
		w.send(rep)
		return
	}
	if err := w.h.Mail(from, opts); err != nil {
		w.send(replyOf(err))
		return
	}
	w.mail, w.rcpts = true, 0
	w.reply(250, [3]int{2, 1, 0}, "Sender <"+clip(from)+"> ok") // RFC 3463 X.1.0
}

// rcptTo is RCPT TO (RFC 5321 §4.1.1.3).
func (w *wire) rcptTo(arg string) {
	if !w.mail {
		w.reply(503, [3]int{5, 5, 1}, "Send MAIL first")
		return
	}
	rest, ok := cutKeyword(arg, "TO:")
	if !ok {
		w.reply(501, [3]int{5, 5, 4}, "Syntax: RCPT TO:<address>")
		return
	}
	to, params, err := parsePath(rest, false, true)
	if err != nil {
		// RFC 3463 X.1.3: bad destination mailbox address syntax.
		w.reply(501, [3]int{5, 1, 3}, "Bad recipient address syntax: "+err.Error())
		return
	}
	if max := w.p.MaxRecipients; max > 0 && w.rcpts >= max {
		// RFC 5321 §4.5.3.1.10: 452, the client sends the rest later.
		w.refusing("rcpt", to, nil, &Reply{Code: 452, Enhanced: [3]int{4, 5, 3}, Message: fmt.Sprintf("Too many recipients: at most %d in one transaction", max)})
		return
	}
	opts, rep := w.p.rcptOptions(params)
	if rep != nil {
		w.send(rep)
		return
	}
	if err := w.h.Rcpt(to, opts); err != nil {
		w.send(replyOf(err))
		return
	}
	w.rcpts++
	w.reply(250, [3]int{2, 1, 5}, "Recipient <"+clip(to)+"> ok") // RFC 3463 X.1.5
}

// ready says why a message cannot be taken now, or nil: RFC 5321 §3.3
// (and RFC 2920 §3.1: the client then sends no data): 503 without MAIL,
// 554 when no recipient was accepted.
func (w *wire) ready() *Reply {
	switch {
	case !w.mail:
		return &Reply{Code: 503, Enhanced: [3]int{5, 5, 1}, Message: "Send MAIL and RCPT first"}
	case w.rcpts == 0:
		return &Reply{Code: 554, Enhanced: [3]int{5, 5, 1}, Message: "No valid recipients"}
	}
	return nil
}

// data is DATA (RFC 5321 §4.1.1.4): 354, then the message up to CRLF "."
// CRLF, read by dotReader.
func (w *wire) data(arg string) {
	if arg != "" {
		w.reply(501, [3]int{5, 5, 4}, "DATA takes no arguments")
		return
	}
	if r := w.ready(); r != nil {
		w.send(r)
		return
	}
	w.lines(354, "End data with <CR><LF>.<CR><LF>")
	dr := newDotReader(w.br, maxLineLength, max(w.p.MaxMessageBytes, 0))
	w.inData = true
	err := w.h.Data(dr)
	if w.broken == nil {
		if derr := dr.drain(); derr != nil && w.broken == nil {
			w.broken = derr
		}
	}
	w.inData = false
	w.finishData(err)
}

// finishData sends the reply to a message and ends the transaction.
func (w *wire) finishData(err error) {
	w.resetTxn()
	if w.broken != nil {
		// Nobody to answer, or a client too slow to wait for (421).
		w.readFailed(w.broken)
		w.quit = true
		return
	}
	if err == nil {
		w.reply(250, [3]int{2, 0, 0}, "Ok: queued")
		return
	}
	w.send(replyOf(err))
}

// errTooBig is the message over the limit (RFC 1870 §6.3, RFC 3030 §3).
func errTooBig(max int64) *Reply {
	return &Reply{Code: 552, Enhanced: [3]int{5, 3, 4},
		Message: fmt.Sprintf("Message too big: the limit is %d octets", max)}
}

// bdat is BDAT (RFC 3030 §2): the chunk of the given size follows the
// command line at once. The message is the chunks up to the one marked
// LAST; chunkReader takes the engine from one to the next while the
// handler reads, so a message of many chunks streams like DATA.
func (w *wire) bdat(arg string) {
	size, last, rep := parseBDAT(arg)
	if rep != nil {
		// The chunk's length is unknown: nothing can be skipped.
		w.send(rep)
		return
	}
	if r := w.ready(); r != nil {
		// RFC 3030 §2: the chunk is sent anyway; it is read and dropped.
		if _, err := w.br.Discard(int(size)); err != nil {
			w.quit = true
			return
		}
		w.send(r)
		return
	}
	c := &chunkReader{w: w, left: size, size: size, last: last, total: size}
	if max := w.p.MaxMessageBytes; max > 0 && size > max {
		c.err = errTooBig(max)
	}
	w.inData = true
	err := w.h.Data(c)
	if w.broken == nil && c.left > 0 {
		// What the handler left of the current chunk.
		if _, derr := w.br.Discard(int(c.left)); derr != nil && w.broken == nil {
			w.broken = derr
		}
	}
	w.inData = false
	if c.aborted {
		// The client gave up the transfer (RSET, QUIT, ...): no reply to
		// the message; the command is done next.
		w.resetTxn()
		return
	}
	w.finishData(err)
}

// parseBDAT reads "BDAT size [LAST]".
func parseBDAT(arg string) (size int64, last bool, rep *Reply) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 || !allDigits(f[0]) || len(f[0]) > 18 {
		return 0, false, &Reply{Code: 501, Enhanced: [3]int{5, 5, 4}, Message: "Syntax: BDAT size [LAST]"}
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, &Reply{Code: 501, Enhanced: [3]int{5, 5, 4}, Message: "Syntax: BDAT size [LAST]"}
		}
		last = true
	}
	size, _ = strconv.ParseInt(f[0], 10, 64)
	return size, last, nil
}

// errAborted ends a handler's read when the client left a BDAT transfer.
var errAborted = errors.New("the client ended the BDAT transfer without LAST")

// chunkReader is the message of a BDAT transfer as the handler reads it.
type chunkReader struct {
	w       *wire
	left    int64 // octets of the current chunk not yet read
	size    int64 // the current chunk's size
	last    bool  // the current chunk is the last
	total   int64 // octets of the message so far, the current chunk included
	err     error
	aborted bool
	le      lineEnds // a bare LF is given out as CRLF (barelf.go)
}

// Read copies the chunk out of the connection's buffer, each bare LF
// made CRLF in the same copy (lineEnds: a CR that ends one chunk and the
// LF that starts the next are one line end).
func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w := c.le.flush(p)
	for c.left == 0 && c.err == nil {
		if w > 0 {
			return w, nil // the next chunk's BDAT after this read
		}
		if c.last {
			return 0, io.EOF
		}
		c.err = c.w.nextChunk(c)
	}
	if c.err != nil {
		return w, c.err
	}
	n, used, err := c.le.fromBuffer(p[w:], c.w.br, c.left)
	c.left -= used
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		c.err = err
		return w, err
	}
	return w + n, nil
}

// nextChunk answers the chunk the handler has read and waits for the
// next BDAT. Commands that do not touch the transaction (NOOP, VRFY, ...)
// are answered on the way; MAIL, RCPT, DATA and AUTH are out of sequence
// (503); RSET, QUIT, HELO, EHLO and STARTTLS end the transfer and are done
// after it.
func (w *wire) nextChunk(c *chunkReader) error {
	w.reply(250, [3]int{2, 0, 0}, fmt.Sprintf("%d octets received", c.size))
	for {
		cmd, err := w.readCommand()
		if err != nil {
			if w.broken == nil {
				w.broken = err
			}
			return err
		}
		switch cmd.verb {
		case "BDAT":
			size, last, rep := parseBDAT(cmd.arg)
			if rep != nil {
				w.send(rep)
				c.aborted = true
				return errAborted
			}
			c.left, c.size, c.last = size, size, last
			c.total += size
			if max := w.p.MaxMessageBytes; max > 0 && c.total > max {
				return errTooBig(max) // the chunk is skipped after the handler
			}
			return nil
		case "RSET", "QUIT", "HELO", "EHLO", "STARTTLS":
			w.pending = &cmd
			c.aborted = true
			return errAborted
		case "MAIL", "RCPT", "DATA", "AUTH":
			w.reply(503, [3]int{5, 5, 1}, cmd.verb+" is out of sequence during a BDAT transfer: send BDAT with LAST, or RSET")
		default:
			w.dispatch(cmd)
			if w.quit {
				c.aborted = true
				return errAborted
			}
		}
	}
}
