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
	notYours := &Refusal{Code: 553, Enhanced: [3]int{5, 7, 1},
		Message: fmt.Sprintf("<%s> is not an address of %s: send as your own address (submission.sender_policy = %q)", clip(from), clip(account), s.Rule)}
	acct, r := ParseAddress(account)
	if r != nil {
		return notYours, nil
	}
	if strings.EqualFold(a.String(), acct.String()) {
		return nil, nil
	}
	switch s.Rule {
	case SenderAny:
		return nil, nil
	case SenderExact:
		return notYours, nil
	case SenderDomain:
		if a.Domain == acct.Domain {
			return nil, nil
		}
		return notYours, nil
	}
	if s.Directory == nil {
		return notYours, nil
	}
	res, err := s.Directory.Resolve(ctx, a.String())
	if err != nil {
		return nil, fmt.Errorf("resolve sender %s: %w", a, err)
	}
	for _, mb := range res.Mailboxes {
		if strings.EqualFold(mb.Address, acct.String()) {
			return nil, nil
		}
	}
	return notYours, nil
}
