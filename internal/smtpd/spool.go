package smtpd

import (
	"context"
	"io"
	"time"
)

// Message is the envelope of one accepted transaction, as a listener hands
// it to the spool.
type Message struct {
	// From is the reverse-path; "" is the null sender <>.
	From       string
	Recipients []string
	// Prefix is the trace header block to store with the envelope and to
	// write before the message at delivery (the spool file holds the data
	// exactly as received and is never rewritten). CRLF line ends.
	Prefix []byte
	// Client, for mailq and the logs.
	ConnID   string
	Kind     Kind
	RemoteIP string
	Helo     string
	AuthUser string
	TLS      bool
	// SMTPUTF8 and Body (7BIT, 8BITMIME, BINARYMIME) are the MAIL
	// parameters the relay must honour.
	SMTPUTF8 bool
	Body     string
	Received time.Time
	// DSN parameters (RFC 3461 §4): RET (FULL, HDRS or ""), ENVID, and
	// NOTIFY/ORCPT by recipient (absent when the client gave neither).
	Ret   string
	EnvID string
	Rcpt  map[string]RcptParams
	// RequireTLS: MAIL FROM ... REQUIRETLS (RFC 8689 §4.1), accepted only
	// over TLS; the relay must then deliver over verified TLS.
	RequireTLS bool
}

// RcptParams are one recipient's DSN parameters (RFC 3461 §4.1, §4.2).
type RcptParams struct {
	Notify    []string // NEVER, or any of SUCCESS, FAILURE, DELAY
	ORCPTType string   // rfc822 or utf-8
	ORCPT     string   // decoded
}

// Protocol is the protocol name of RFC 3848 / RFC 6531 §3.7.3 for the
// Received header and the queue: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS, ...
func (m *Message) Protocol() string {
	p := "ESMTP"
	if m.SMTPUTF8 {
		p = "UTF8SMTP"
	}
	if m.TLS {
		p += "S"
	}
	if m.AuthUser != "" {
		p += "A"
	}
	return p
}

// Spool is where a message goes: the queue. Receive reads data to its end
// and returns only once message and envelope are durable (or with an
// error). The session watches the reader itself, so it tells the client's
// trouble (too big, connection lost) from ours however the error is
// wrapped; an error of ours should be a *diag.Error.
type Spool interface {
	Receive(ctx context.Context, m *Message, data io.Reader) (queueID string, err error)
}
