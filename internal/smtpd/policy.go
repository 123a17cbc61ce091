package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/envaddr"
)

// SessionInfo is what a Policy or an Authenticator knows about the client.
type SessionInfo struct {
	ConnID   string
	Kind     Kind
	RemoteIP string
	// Helo is the name the client gave in HELO/EHLO.
	Helo string
	// TLS is the connection state once TLS is up, else nil.
	TLS *tls.ConnectionState
	// AuthUser is the authenticated account, "" before AUTH.
	AuthUser string
	// UTF8 is set while the transaction's MAIL FROM had SMTPUTF8 (RFC
	// 6531): only then may a recipient be non-ASCII.
	UTF8 bool
	// Size is the transaction's MAIL FROM SIZE= (RFC 1870), 0 when the
	// client declared none: a recipient whose mailbox can never hold that
	// much is refused at RCPT (InboundPolicy.Deliverable).
	Size int64
}

// SetAuthUser records a successful AUTH (called by an Authenticator's SASL
// callback).
func (s *SessionInfo) SetAuthUser(u string) { s.AuthUser = u }

// Policy decides MAIL FROM and RCPT TO for the listeners it is given to.
//
// Return nil to accept, an *Reply to refuse with that reply. Any
// other error is our own trouble: the session logs it with a reference id
// and answers 451 (a *diag.Error's Public text is used when set).
type Policy interface {
	// Mail checks the reverse-path; "" is the null sender.
	Mail(ctx context.Context, s *SessionInfo, from string, opts *MailOptions) error
	// Rcpt checks one forward-path.
	Rcpt(ctx context.Context, s *SessionInfo, to string, opts *RcptOptions) error
}

// Authenticator offers AUTH on a listener (see the package doc).
type Authenticator interface {
	Mechanisms(s *SessionInfo) []string
	Server(ctx context.Context, s *SessionInfo, mech string) (sasl.Server, error)
}

// InboundPolicy is port 25: mail from anyone, but only to existing
// recipients in hosted domains. It never relays.
type InboundPolicy struct {
	Directory directory.Resolver
	// Deliverable, when set, says whether the local delivery would refuse
	// a resolved recipient permanently (a disabled mailbox, a local part
	// that cannot name a Maildir, a quota smaller than size, the
	// declared SIZE= or 0): the same check, with the same reason, that the
	// delivery makes (deliver.Refusal), asked while the client is still
	// connected so that nothing accepted bounces later.
	Deliverable func(res *directory.Resolution, size int64) *diag.Error
}

// Mail accepts any sender that the queue can later use as the address of a
// delivery status notification (envaddr, the one parser): mail to us may
// come from anywhere, and the bounce address <> is required (RFC 5321
// §4.5.5). A sender that would make the DSN undeliverable is refused now.
func (p InboundPolicy) Mail(ctx context.Context, s *SessionInfo, from string, opts *MailOptions) error {
	s.UTF8 = opts != nil && opts.UTF8
	if err := checkSender(from, opts); err != nil || from == "" {
		return err
	}
	return p.localSender(ctx, from)
}

// localSender refuses a sender in a hosted domain that the directory does
// not know: a bounce to it could not be delivered (Postfix's
// reject_unlisted_sender). 550 5.1.8, RFC 3463: the sender's address
// cannot take return mail. A disabled mailbox still exists and may send.
func (p InboundPolicy) localSender(ctx context.Context, from string) error {
	a, _ := envaddr.Parse(from)
	if a.IsLiteral() {
		return nil
	}
	hosted, err := p.Directory.IsLocalDomain(ctx, a.Domain)
	if err != nil {
		return directoryTrouble("look up the sender's domain", a.Domain, err)
	}
	if !hosted {
		return nil
	}
	res, err := p.Directory.Resolve(ctx, a.String())
	if err != nil {
		if d, ok := diag.As(err); ok && !d.Temporary() {
			return &Reply{Code: 550, Enhanced: [3]int{5, 1, 8},
				Message: fmt.Sprintf("<%s>: sender unknown here: %s", envaddr.Clip(from), d.Public)}
		}
		return directoryTrouble("resolve the sender", a.String(), err)
	}
	if res.Unknown() {
		return &Reply{Code: 550, Enhanced: [3]int{5, 1, 8},
			Message: fmt.Sprintf("<%s>: sender unknown in a domain hosted here; a bounce to it could not be delivered", envaddr.Clip(from))}
	}
	return nil
}

// checkSender refuses a reverse-path that envaddr does not accept (553
// 5.1.7, RFC 3463: bad sender's mailbox address syntax), and a non-ASCII
// one without SMTPUTF8 (553 5.6.7, RFC 6531 §3.5).
func checkSender(from string, opts *MailOptions) error {
	a, err := envaddr.ParseReversePath(from)
	if err != nil {
		e := err.(*envaddr.Error)
		return &Reply{Code: e.Code, Enhanced: [3]int{5, 1, 7}, Message: e.Message}
	}
	if !a.ASCII() && (opts == nil || !opts.UTF8) {
		return needUTF8(from)
	}
	return nil
}

func needUTF8(addr string) error {
	return &Reply{Code: 553, Enhanced: [3]int{5, 6, 7},
		Message: fmt.Sprintf("<%s>: a non-ASCII address needs MAIL FROM with SMTPUTF8 (RFC 6531)", envaddr.Clip(addr))}
}

// Rcpt accepts an address only when its domain is hosted and it reaches a
// mailbox or a forward that the delivery will take. Refusing at RCPT (550
// 5.1.1 and friends), not by a later bounce, is what keeps us from sending
// backscatter: every permanent answer of the directory and of the delivery
// is a 5xx here, never a 4xx that makes the client retry for days.
func (p InboundPolicy) Rcpt(ctx context.Context, s *SessionInfo, to string, opts *RcptOptions) error {
	a, err := envaddr.Parse(to)
	if err != nil {
		e := err.(*envaddr.Error)
		return &Reply{Code: e.Code, Enhanced: e.Enhanced, Message: e.Message}
	}
	if !a.ASCII() && !s.UTF8 {
		return needUTF8(to)
	}
	if a.IsLiteral() {
		// Address literals are never hosted here (RFC 5321 §4.1.3).
		return relayDenied(a.Domain)
	}
	hosted, err := p.Directory.IsLocalDomain(ctx, a.Domain)
	if err != nil {
		return directoryTrouble("look up the domain", a.Domain, err)
	}
	if !hosted {
		return relayDenied(a.Domain)
	}
	addr := a.String()
	res, err := p.Directory.Resolve(ctx, addr)
	if err != nil {
		if errors.Is(err, directory.ErrAliasLoop) || errors.Is(err, directory.ErrAliasTooDeep) {
			// The address cannot work until the aliases are fixed
			// (RFC 3463 5.4.6: routing loop detected).
			return &Reply{Code: 550, Enhanced: [3]int{5, 4, 6},
				Message: fmt.Sprintf("<%s>: alias loop or chain too deep", addr)}
		}
		if d, ok := diag.As(err); ok && !d.Temporary() {
			return permanent(addr, d)
		}
		return directoryTrouble("resolve the recipient", addr, err)
	}
	if res.Unknown() {
		return &Reply{Code: 550, Enhanced: [3]int{5, 1, 1},
			Message: fmt.Sprintf("<%s>: no such user here", addr)}
	}
	if p.Deliverable != nil {
		if d := p.Deliverable(res, s.Size); d != nil {
			return permanent(addr, d)
		}
	}
	return nil
}

// permanent is the 5xx for a permanent diag error: its own code and public
// text (the words a bounce would have carried), never a path.
func permanent(addr string, d *diag.Error) error {
	code, enh := d.SMTPCode, d.Enhanced
	if code < 500 || code > 599 {
		code, enh = 550, [3]int{5, 1, 1}
	}
	text := d.Public
	if text == "" {
		text = "Mailbox unavailable"
	}
	return &Reply{Code: code, Enhanced: enh,
		Message: fmt.Sprintf("<%s>: %s", envaddr.Clip(addr), text), cause: d}
}

func relayDenied(domain string) error {
	return &Reply{Code: 554, Enhanced: [3]int{5, 7, 1},
		Message: fmt.Sprintf("Relay access denied: %s is not a domain hosted here", domain)}
}

// directoryTrouble is the temporary error for a directory that did not
// answer: the client retries (451 4.3.0), the log says why.
func directoryTrouble(doing, what string, err error) error {
	d := diag.From(err, "ebb serve", "lookup")
	if d.Doing == "" {
		d.Doing = doing
	}
	if d.Path == "" {
		d.Path = what
	}
	d.Class = diag.Temporary
	d.SMTPCode, d.Enhanced = 451, [3]int{4, 3, 0}
	if d.Public == "" {
		d.Public = "Directory unavailable, try again later"
	}
	return d
}

// SplitAddress splits an envelope address into its local part and its
// normalised domain (lower case, no trailing dot) with envaddr, the one
// parser: ok is false for what MAIL and RCPT would refuse. The local part
// stays as given: it is case-sensitive by RFC 5321 §2.4, the directory
// decides.
func SplitAddress(addr string) (local, domain string, ok bool) {
	a, err := envaddr.Parse(addr)
	if err != nil {
		return "", "", false
	}
	return a.Local, a.Domain, true
}
