package smtpd

import (
	"context"
	"log/slog"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/policy"
)

// SubmissionPolicy is the policy of the submission listeners (587, 465):
// a client must log in (or be in submission.trusted_networks) before MAIL;
// a logged-in user sends only as the addresses submission.sender_policy
// allows; recipients in hosted domains must exist; remote recipients are
// accepted for the queue because the client is known (policy.Relaying).
// The routing tricks (% ! multiple @ and friends) are refused for everyone.
type SubmissionPolicy struct {
	Relaying  *policy.Relaying
	Senders   *policy.Senders
	Directory directory.Resolver
	// Deliverable is InboundPolicy.Deliverable, for local recipients.
	Deliverable func(res *directory.Resolution, size int64) *diag.Error
	// PerIP and PerAccount bound messages per hour (nil: no bound).
	PerIP      *policy.Rate
	PerAccount *policy.Rate
	Log        *slog.Logger
}

func refusal(r *policy.Refusal) *Reply {
	return &Reply{Code: r.Code, Enhanced: r.Enhanced, Message: r.Message}
}

// Mail checks that the client may submit at all, and the sender.
func (p *SubmissionPolicy) Mail(ctx context.Context, s *SessionInfo, from string, opts *MailOptions) error {
	s.UTF8 = opts != nil && opts.UTF8
	ip := ipOf(s.RemoteIP)
	if s.AuthUser == "" && !p.Relaying.Trusted(ip) {
		// RFC 4954 §6: 530 5.7.0 Authentication required.
		msg := "Authentication required: log in with AUTH before MAIL"
		if s.TLS == nil {
			msg = "Authentication required: STARTTLS, then AUTH, before MAIL"
		}
		return &Reply{Code: 530, Enhanced: [3]int{5, 7, 0}, Message: msg}
	}
	if s.AuthUser != "" {
		r, err := p.Senders.MaySendAs(ctx, s.AuthUser, from)
		if err != nil {
			return directoryTrouble("check the sender", from, err)
		}
		if r != nil {
			if p.Log != nil {
				p.Log.Warn("smtp sender refused", "conn", s.ConnID, "remote", s.RemoteIP, "account", s.AuthUser, "from", from)
			}
			return refusal(r)
		}
	}
	if err := checkSender(from, opts); err != nil {
		return err // what MaySendAs allowed must still be usable for a DSN
	}
	if ok, err := p.PerIP.TakeSource(ctx, s.RemoteIP); err != nil {
		return directoryTrouble("count the client's messages (submission.max_messages_per_ip)", s.RemoteIP, err)
	} else if !ok {
		return &Reply{Code: 450, Enhanced: [3]int{4, 7, 1},
			Message: "Too many messages from your address in the last hour (submission.max_messages_per_ip); try again later"}
	}
	if s.AuthUser == "" {
		return nil
	}
	if ok, err := p.PerAccount.Take(ctx, s.AuthUser); err != nil {
		return directoryTrouble("count the account's messages (submission.max_messages_per_account)", s.AuthUser, err)
	} else if !ok {
		if p.Log != nil {
			p.Log.Warn("smtp account over its hourly message limit", "conn", s.ConnID, "remote", s.RemoteIP, "account", s.AuthUser)
		}
		return &Reply{Code: 450, Enhanced: [3]int{4, 7, 1},
			Message: "Too many messages from your account in the last hour (submission.max_messages_per_account); try again later"}
	}
	return nil
}

// Rcpt accepts existing local recipients and, for a known client, remote ones.
func (p *SubmissionPolicy) Rcpt(ctx context.Context, s *SessionInfo, to string, opts *RcptOptions) error {
	addr, route, r, err := p.Relaying.Recipient(ctx, policy.Client{IP: ipOf(s.RemoteIP), Account: s.AuthUser}, to)
	switch {
	case err != nil:
		return directoryTrouble("look up the domain", to, err)
	case r != nil:
		return refusal(r)
	case route == policy.Local:
		return InboundPolicy{Directory: p.Directory, Deliverable: p.Deliverable}.Rcpt(ctx, s, addr.String(), opts)
	}
	return nil
}
