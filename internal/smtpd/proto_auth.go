package smtpd

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// STARTTLS (RFC 3207) and AUTH (RFC 4954).

// startTLS is STARTTLS (RFC 3207 §4).
func (w *wire) startTLS(arg string) {
	switch {
	case w.tls != nil:
		w.reply(503, [3]int{5, 5, 1}, "TLS is already on")
		return
	case w.p.TLS == nil:
		w.reply(502, [3]int{5, 5, 1}, "STARTTLS is not available here")
		return
	case arg != "":
		w.reply(501, [3]int{5, 5, 4}, "STARTTLS takes no arguments") // RFC 3207 §4
		return
	}
	w.reply(220, [3]int{2, 0, 0}, "Ready to start TLS")
	if err := w.bw.Flush(); err != nil {
		w.quit = true
		return
	}
	// What the client sent after STARTTLS, before the handshake, was sent
	// in the clear and would otherwise be read as if it came over TLS:
	// the command injection of CVE-2011-0411. RFC 3207 §4.2: the client
	// must wait for the 220; it is thrown away.
	w.br.Discard(w.br.Buffered())
	tc := tls.Server(w.nc, w.p.TLS)
	if d := w.p.CommandTimeout; d > 0 {
		w.nc.SetDeadline(time.Now().Add(d))
	}
	if err := tc.Handshake(); err != nil {
		// Nothing can be said on a stream in an unknown state.
		w.broken = fmt.Errorf("TLS handshake after STARTTLS: %w", err)
		w.quit = true
		return
	}
	w.nc = tc
	st := tc.ConnectionState()
	w.tls = &st
	// RFC 3207 §4.2: everything known from before TLS is forgotten.
	w.helo, w.authed = false, false
	w.resetTxn()
}

// auth is AUTH (RFC 4954 §4).
func (w *wire) auth(arg string) {
	mechs := w.authMechanisms()
	switch {
	case !w.helo:
		w.reply(503, [3]int{5, 5, 1}, "Send EHLO first")
		return
	case len(mechs) == 0:
		w.reply(502, [3]int{5, 5, 1}, "AUTH is not available here")
		return
	case w.tls == nil && !w.p.AuthInClear:
		// RFC 5248 5.7.10: encryption needed.
		w.reply(523, [3]int{5, 7, 10}, "TLS is required for AUTH: use STARTTLS first")
		return
	case w.authed:
		w.reply(503, [3]int{5, 5, 1}, "Already authenticated")
		return
	case w.mail:
		// RFC 4954 §4: not during a mail transaction.
		w.reply(503, [3]int{5, 5, 1}, "AUTH is not allowed during a mail transaction")
		return
	}
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 {
		w.reply(501, [3]int{5, 5, 4}, "Syntax: AUTH mechanism [initial-response]")
		return
	}
	mech := strings.ToUpper(f[0])
	if !slices.Contains(mechs, mech) {
		w.reply(504, [3]int{5, 5, 4}, "Authentication mechanism "+clipParam(mech)+" is not offered")
		return
	}
	var resp []byte
	if len(f) == 2 {
		r, ok := decodeSASL(f[1])
		if !ok {
			w.badBase64()
			return
		}
		resp = r
	}
	srv, err := w.h.(AuthHandler).Auth(mech)
	if err != nil {
		w.send(replyOf(err))
		return
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			w.send(authReply(err))
			return
		}
		if done {
			break
		}
		w.lines(334, base64.StdEncoding.EncodeToString(challenge))
		line, err := w.readLine()
		if err != nil {
			w.quit = true
			w.readFailed(err)
			return
		}
		s := strings.TrimRight(string(line), "\r\n")
		if s == "*" {
			// RFC 4954 §4: the client cancelled.
			w.reply(501, [3]int{5, 0, 0}, "Authentication cancelled")
			return
		}
		r, ok := decodeSASL(s)
		if !ok {
			w.badBase64()
			return
		}
		resp = r
	}
	w.authed = true
	w.reply(235, [3]int{2, 7, 0}, "Authentication successful") // RFC 4954 §6
}

// decodeSASL decodes a client response: "=" is the empty one (RFC 4954
// §4).
func decodeSASL(s string) ([]byte, bool) {
	if s == "=" {
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

// badBase64 is RFC 4954 §4: a response that cannot be decoded is
// rejected with 501 (§6: 5.5.2).
func (w *wire) badBase64() {
	w.reply(501, [3]int{5, 5, 2}, "Cannot decode the response: invalid base64")
}

// authReply is the reply for a failed exchange: the handler's *Reply (535
// for wrong credentials, 454 for our trouble), or 501 for a response the
// mechanism could not read.
func authReply(err error) *Reply {
	var r *Reply
	if errors.As(err, &r) {
		return r
	}
	return &Reply{Code: 501, Enhanced: [3]int{5, 5, 2}, Message: "Malformed authentication response"}
}
