package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/ebbmail/ebb/internal/directory"
)

// SenderRule is submission.sender_policy.
type SenderRule string

const (
	// SenderExact: only the login address itself.
	SenderExact SenderRule = "exact"
	// SenderOwn: the login address and every address whose resolution
	// reaches the login's mailbox (its aliases, its domain aliases).
	SenderOwn SenderRule = "own"
	// SenderDomain: any address in the login's domain.
	SenderDomain SenderRule = "domain"
	// SenderAny: no check.
	SenderAny SenderRule = "any"
)

// Senders decides which envelope senders a logged-in user may use, so that
// a stolen or shared password cannot send as the boss.
type Senders struct {
	Rule      SenderRule
	Directory directory.Resolver
}

// MaySendAs checks MAIL FROM for account. The refusal is 553 5.7.1 with a
// sentence naming the address that is not the user's; err is trouble
// asking the directory.
func (s *Senders) MaySendAs(ctx context.Context, account, from string) (*Refusal, error) {
	if from == "" {
		// The null sender: bounces and auto-replies from a mail client
		// (RFC 5321 §4.5.5); it claims nobody's address.
		return nil, nil
	}
	a, r := ParseAddress(from)
	if r != nil {
		return r, nil
	}
	ok, err := s.owns(ctx, account, a)
	if err != nil || ok {
		return nil, err
	}
	return &Refusal{Code: 553, Enhanced: [3]int{5, 7, 1},
		Message: fmt.Sprintf("<%s> is not an address of %s: send as your own address (submission.sender_policy = %q)", clip(from), clip(account), s.Rule)}, nil
}

// MayWriteAs checks an address a logged-in user wrote in the message's
// header as its author (field is "From" or "Sender", RFC 5322 §3.6.2),
// by the same rule as MAIL FROM: what a reader is shown as the sender is
// the envelope's equal. spec is the addr-spec as the one header reader
// (mailhdr) read it; one the envelope parser refuses (a quoted local
// part, a routing trick) is nobody's address here. The refusal is 550
// 5.7.1, the reply RFC 5321 §4.3.2 lists after DATA for a policy.
func (s *Senders) MayWriteAs(ctx context.Context, account, field, spec string) (*Refusal, error) {
	if s.Rule == SenderAny {
		return nil, nil
	}
	if a, r := ParseAddress(spec); r == nil {
		ok, err := s.owns(ctx, account, a)
		if err != nil || ok {
			return nil, err
		}
	}
	return &Refusal{Code: 550, Enhanced: [3]int{5, 7, 1},
		Message: fmt.Sprintf("%s: <%s> is not an address of %s: write your own address in %s: (submission.sender_policy = %q)", field, clip(spec), clip(account), field, s.Rule)}, nil
}

// owns reports whether the rule lets account use a.
func (s *Senders) owns(ctx context.Context, account string, a Address) (bool, error) {
	acct, r := ParseAddress(account)
	if r != nil {
		return false, nil
	}
	// One domain in its UTF-8 and its punycode spelling is one domain
	// (RFC 5890): exämple.test is xn--exmple-cua.test.
	ad, ac := domainKey(a.Domain), domainKey(acct.Domain)
	if strings.EqualFold(a.Local, acct.Local) && ad == ac {
		return true, nil
	}
	switch s.Rule {
	case SenderAny:
		return true, nil
	case SenderExact:
		return false, nil
	case SenderDomain:
		return ad == ac, nil
	}
	if s.Directory == nil {
		return false, nil
	}
	res, err := s.Directory.Resolve(ctx, a.String())
	if err != nil {
		return false, fmt.Errorf("resolve sender %s: %w", a, err)
	}
	for _, mb := range res.Mailboxes {
		if strings.EqualFold(mb.Address, acct.String()) {
			return true, nil
		}
	}
	return false, nil
}

// domainKey is d as the directory keys domains (A-labels, lower case); d
// itself when it is none (an address literal).
func domainKey(d string) string {
	if n, err := directory.NormalizeDomain(d); err == nil {
		return n
	}
	return d
}
