package smtpd

import (
	"fmt"
	"io"

	"github.com/emersion/go-smtp"
)

// The message size limit is ours, not go-smtp's, once a transaction has
// begun. go-smtp checks a BDAT chunk's size before the chunk is read and,
// when it is over the limit, reads the refused chunk through its command
// line limit: a chunk without line ends longer than maxLineLength breaks
// the connection there, and the client sees a reset instead of its 552
// (go-smtp v0.25 and v0.26 alike). So after MAIL is accepted the session
// sets its connection's go-smtp limit to 0 (EHLO has advertised SIZE and
// MAIL has checked SIZE= with it by then), counts the octets itself
// (sizeLimited) and stops the transfer with 552 5.3.4 (RFC 3030 §3, RFC
// 1870 §6.3). go-smtp then reads the rest of the chunk without a line
// limit, or the rest of DATA up to its end, and sends our reply. Reset (RSET,
// EHLO, the end of every transaction) puts go-smtp's limit back.

// liftSizeCheck is called when MAIL is accepted.
func (s *session) liftSizeCheck() {
	if s.c.gs != nil && s.c.maxBytes > 0 {
		s.c.gs.MaxMessageBytes = 0
	}
}

// restoreSizeCheck is called at every reset, so that EHLO advertises
// SIZE with the limit and MAIL checks SIZE= again.
func (s *session) restoreSizeCheck() {
	if s.c.gs != nil {
		s.c.gs.MaxMessageBytes = s.c.maxBytes
	}
}

// sizeLimited returns r limited to the connection's size limit.
func (s *session) sizeLimited(r io.Reader) io.Reader {
	if s.c.maxBytes <= 0 {
		return r
	}
	return &sizeLimit{r: r, max: s.c.maxBytes, left: s.c.maxBytes}
}

type sizeLimit struct {
	r         io.Reader
	max, left int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tooBig(l.max)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n, l.left = int(l.left), -1
		return n, tooBig(l.max)
	}
	l.left -= int64(n)
	return n, err
}

func tooBig(max int64) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: fmt.Sprintf("Message too big: the limit is %d octets", max)}
}
