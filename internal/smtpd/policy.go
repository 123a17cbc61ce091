package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
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
}

// SetAuthUser records a successful AUTH (called by an Authenticator's SASL
// callback).
func (s *SessionInfo) SetAuthUser(u string) { s.AuthUser = u }

// Policy decides MAIL FROM and RCPT TO for the listeners it is given to.
//
// Return nil to accept, an *smtp.SMTPError to refuse with that reply. Any
// other error is our own trouble: the session logs it with a reference id
// and answers 451 (a *diag.Error's Public text is used when set).
type Policy interface {
	// Mail checks the reverse-path; "" is the null sender.
	Mail(ctx context.Context, s *SessionInfo, from string, opts *smtp.MailOptions) error
	// Rcpt checks one forward-path.
	Rcpt(ctx context.Context, s *SessionInfo, to string, opts *smtp.RcptOptions) error
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
}

// Mail accepts any sender: mail to us may come from anywhere, and the
// bounce address <> is required (RFC 5321 §4.5.5).
func (p InboundPolicy) Mail(ctx context.Context, s *SessionInfo, from string, opts *smtp.MailOptions) error {
	return nil
}

// Rcpt accepts an address only when its domain is hosted and it reaches a
// mailbox or a forward. Refusing unknown recipients at RCPT (550 5.1.1),
// not by a later bounce, is what keeps us from sending backscatter.
func (p InboundPolicy) Rcpt(ctx context.Context, s *SessionInfo, to string, opts *smtp.RcptOptions) error {
	local, domain, ok := SplitAddress(to)
	if !ok {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
			Message: "Bad recipient address syntax"}
	}
	if strings.HasPrefix(domain, "[") {
		// Address literals are never hosted here (RFC 5321 §4.1.3).
		return relayDenied(domain)
	}
	hosted, err := p.Directory.IsLocalDomain(ctx, domain)
	if err != nil {
		return directoryTrouble("look up the domain", domain, err)
	}
	if !hosted {
		return relayDenied(domain)
	}
	addr := local + "@" + domain
	res, err := p.Directory.Resolve(ctx, addr)
	if err != nil {
		if errors.Is(err, directory.ErrAliasLoop) || errors.Is(err, directory.ErrAliasTooDeep) {
			// The address cannot work until the aliases are fixed
			// (RFC 3463 5.4.6: routing loop detected).
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 4, 6},
				Message: fmt.Sprintf("<%s>: alias loop or chain too deep", addr)}
		}
		return directoryTrouble("resolve the recipient", addr, err)
	}
	if res.Unknown() {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: fmt.Sprintf("<%s>: no such user here", addr)}
	}
	return nil
}

func relayDenied(domain string) error {
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
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

// SplitAddress splits local@domain at the last @ and normalises the domain
// (lower case, no trailing dot). The local part stays as given: it is
// case-sensitive by RFC 5321 §2.4, the directory decides.
func SplitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	local, domain = addr[:i], strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
	if domain == "" || len(local) > 64 || strings.ContainsAny(domain, " \t\r\n") { // RFC 5321 §4.5.3.1.1: local part ≤ 64
		return "", "", false
	}
	return local, domain, true
}
