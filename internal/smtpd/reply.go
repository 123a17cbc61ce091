package smtpd

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
)

// Reply is one SMTP reply (RFC 5321 §4.2): the code, the enhanced status
// code of RFC 3463 (RFC 2034; zero: X.0.0 of the code's class) and the
// text, in ebb's own words (lines separated by "\n"). As an error it is a
// refusal: a Handler or Policy returns one to answer with it.
type Reply struct {
	Code     int
	Enhanced [3]int
	Message  string
	// cause is the delivery's own error behind a refusal (permanent):
	// the journal keeps its reason and fix for ebb explain of the ref;
	// the client sees only Message.
	cause *diag.Error
}

func (r *Reply) Error() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Message)
}

// ReplyFor is the reply the session gives for err from a policy (MAIL, RCPT)
// or, with afterData, from the spool and the checks after DATA; ebb route
// gives the same. Before DATA an *Reply is the reply as it is.
// After DATA a permanent diag error with a 5xx of its own is a verdict on
// the message (a virus, spam, a DMARC reject), replied as it is. Anything
// else is our own trouble: temporary, never a 5xx (principle 4).
func ReplyFor(err error, afterData bool) *Reply {
	if afterData {
		if de, ok := verdictOf(err); ok {
			code, enh, text := de.SMTPReply()
			return &Reply{Code: code, Enhanced: enh, Message: text}
		}
	} else {
		var se *Reply
		if errors.As(err, &se) {
			return se
		}
	}
	return troubleReply(diag.From(err, "ebb serve", "receive"))
}

// verdictOf returns err as a verdict on the message after DATA: a
// permanent diag error with a 5xx of its own.
func verdictOf(err error) (*diag.Error, bool) {
	de, ok := diag.As(err)
	return de, ok && de.Class == diag.Permanent && de.SMTPCode >= 500
}

// troubleReply is the 4xx for our own trouble d: the public text and the
// reference id only.
func troubleReply(d *diag.Error) *Reply {
	code, enh, text := d.SMTPReply()
	if code >= 500 || code < 400 {
		// Our trouble is temporary (principle 4): never a 5xx for it.
		code, enh = 451, [3]int{4, 3, 0}
	}
	return &Reply{Code: code, Enhanced: enh, Message: text}
}

// CRLFReader turns each bare LF into CRLF, as the engine's readers do to
// DATA and BDAT on their way to the spool (barelf.go). ebb route stages a
// message file through it, so that the checks read what the spool would
// hold.
func CRLFReader(r io.Reader) io.Reader { return newCRLFReader(r) }

// Received is the Received header field the session puts above a message
// (received.go), for ebb route's envelope.
func Received(info *SessionInfo, host, id string, rcpts []string, utf8 bool, now time.Time) []byte {
	return received(info, host, id, rcpts, utf8, now)
}
