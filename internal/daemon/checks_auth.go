package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/envaddr"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/spf"
)

// authCheckers: SPF, DKIM and DMARC on mail from outside (port 25), first
// of the checks, so that the scanners see the Authentication-Results.
func (d *daemon) authCheckers() []checker {
	cfg := d.cfg
	if !cfg.Auth.Check {
		return nil
	}
	var trusted []netip.Prefix
	for _, s := range cfg.Auth.TrustedNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			d.log.Error("auth: a bad network in auth.trusted_networks is ignored", "network", s, "err", err)
			continue
		}
		trusted = append(trusted, p)
	}
	var m *msgauth.Metrics
	if d.metrics != nil {
		m = msgauth.NewMetrics(d.metrics.Registry)
	}
	// The checks ask dns.resolver directly: SPF looks up names Go's
	// resolver refuses (RFC 7208 macros), and a reason names the server.
	var res msgauth.Resolver = dnsresolve.NewClient(cfg)
	if ttl := cfg.Auth.DNSCacheTime.Duration; ttl > 0 {
		res = &msgauth.CachingResolver{R: res, TTL: ttl}
	}
	return []checker{&authChecker{
		c: &msgauth.Checker{
			Resolver:      res,
			MaxSignatures: cfg.Auth.MaxSignatures,
			Timeout:       cfg.Auth.Timeout.Duration,
		},
		id:         cfg.AuthservID(),
		trusted:    trusted,
		reject:     cfg.Auth.DMARCReject,
		quarantine: cfg.Auth.QuarantineFolder,
		metrics:    m,
		log:        d.log.With("component", "auth"),
		record:     d.recordDMARC, // reports.go: DMARC aggregate reports
		hosted:     d.dir.IsLocalDomain,
		trustedSet: cfg.Setting("auth.trusted_networks"),
		unchecked: func(reason string) {
			if d.hostedUnchecked != nil { // ebb serve's (not ebb route's)
				d.hostedUnchecked.WithLabelValues(reason).Inc()
			}
		},
	}}
}

type authChecker struct {
	c          *msgauth.Checker
	id         string
	trusted    []netip.Prefix
	reject     bool
	quarantine string
	metrics    *msgauth.Metrics
	log        *slog.Logger
	// record keeps the evaluation for the From: domain's aggregate
	// report, with what was done with the message.
	record func(res *msgauth.Result, env *queue.Envelope, refused bool, quarantine string)
	// hosted says whether a domain is hosted here (the directory): an
	// envelope sender of one must pass SPF (hostedSender).
	hosted     func(ctx context.Context, domain string) (bool, error)
	trustedSet *diag.Setting // auth.trusted_networks, named by its refusal
	// unchecked counts a hosted-sender check that could not be made and
	// let the message through, by reason (ebb_auth_hosted_sender_unchecked_total).
	unchecked func(reason string)
}

func (a *authChecker) name() string { return "auth" }

func (a *authChecker) check(ctx context.Context, in *checkInput) (string, error) {
	env := &in.Msg.Envelope
	// Submission is not checked: it is signed as it leaves.
	if in.Kind != smtpd.Inbound {
		return "", nil
	}
	ip, _ := netip.ParseAddr(env.ClientAddr)
	ip = ip.Unmap() // ::ffff:192.0.2.1 is checked as 192.0.2.1 (SPF ip4:)
	for _, p := range a.trusted {
		if ip.IsValid() && p.Contains(ip) {
			return "", nil
		}
	}
	start := time.Now()
	res := a.c.Check(ctx, msgauth.Input{
		IP: net.IP(ip.AsSlice()), Helo: env.ClientHelo, MailFrom: env.From, Path: in.Msg.File,
		HiddenFrom: in.Msg.HiddenFrom,
	})
	a.metrics.Observe(res)
	log := a.log.With("queue_id", in.Msg.ID, "session", env.SessionID, "client", env.ClientAddr, "from", env.From,
		"ms", time.Since(start).Milliseconds())
	dm := res.DMARC
	if dm.Disposition == msgauth.Reject && a.reject {
		// RFC 7489 §6.6.4, §10.3: refused while the client is connected,
		// so that the sender gets the reason (principle 4).
		why := fmt.Errorf("DMARC policy of %s is reject and the message fails it: %s", dm.From, dm.Failed)
		hint := "the sender's domain must sign with DKIM or send from hosts its SPF record lists; set auth.dmarc_reject = false to accept such mail into auth.quarantine_folder"
		if dm.Unjudged != "" {
			// Issue 22: a From: that gives nothing to judge is not let
			// through on that account.
			why = fmt.Errorf("the From: field cannot be judged: %s", dm.Reason)
			hint = "the sender must write one From: field with the author's address (RFC 5322 section 3.6.2); set auth.dmarc_reject = false to accept such mail into auth.quarantine_folder"
		} else if dm.Unreadable != "" {
			why = fmt.Errorf("%w; %s", why, dm.Reason)
		}
		e := diag.New("dmarc", "accept a message from", dm.From, why)
		e.Component, e.Class = "ebb serve", diag.Permanent
		e.SMTPCode, e.Enhanced = 550, [3]int{5, 7, 1}
		e.Public = dm.Refusal()
		e.Setting = &diag.Setting{Key: "auth.dmarc_reject", Value: "true"}
		e.Hint = hint
		e.EnsureRef()
		log.Info("auth: refused by DMARC policy", "results", res.String(), "ref", e.Ref)
		if a.record != nil {
			a.record(res, env, true, a.quarantine)
		}
		return "", e
	}
	if e := a.hostedSender(ctx, in, res); e != nil {
		log.Info("auth: refused a hosted envelope sender that fails SPF", "results", res.String(), "ref", e.Ref)
		if a.record != nil {
			a.record(res, env, true, a.quarantine)
		}
		return "", e
	}
	if a.record != nil {
		a.record(res, env, false, a.quarantine)
	}
	if dm.Disposition == msgauth.Quarantine || dm.Disposition == msgauth.Reject {
		if a.quarantine != "" {
			env.Folder = a.quarantine
		}
		log.Info("auth: DMARC failure quarantined", "results", res.String(), "folder", a.quarantine)
	} else {
		log.Info("auth: checked", "results", res.String())
	}
	return res.Header(a.id), nil
}

// hostedSender refuses a message from outside whose envelope sender is an
// address of a hosted domain and whose SPF result says this client is not
// (or not known to be) that domain's sender: fail, softfail or neutral
// (RFC 7208 §2.6). Such mail claims to be ours; let in, a copy an alias or
// a Sieve redirect sends on leaves from this host with that sender, whose
// SPF passes for us at the next hop and aligns with a From: of the same
// domain (DMARC), so a forgery from anywhere would pass as ours there, SRS
// or not (docs/auth.md, "Hosted senders"). It is refused while the client
// is connected (principle 4), 550 5.7.23 (RFC 7372: SPF validation failed).
// none (no record: no SPF pass anywhere), permerror (the same at the next
// hop) and temperror (DNS trouble never refuses mail) are let through, as is
// a directory that does not answer: a fail-open, said in the log, the
// message's record (in.note) and ebb_auth_hosted_sender_unchecked_total.
func (a *authChecker) hostedSender(ctx context.Context, in *checkInput, res *msgauth.Result) *diag.Error {
	env := &in.Msg.Envelope
	if a.hosted == nil || env.From == "" {
		return nil
	}
	switch res.SPF.Result {
	case spf.Fail, spf.SoftFail, spf.Neutral:
	default:
		return nil
	}
	_, domain, ok := envaddr.Split(env.From)
	if !ok {
		return nil
	}
	hosted, err := a.hosted(ctx, domain)
	if err != nil {
		a.log.Warn("auth: cannot tell whether the envelope sender's domain is hosted here; SPF "+string(res.SPF.Result)+" let through",
			"queue_id", in.Msg.ID, "from", env.From, "client", env.ClientAddr, "err", err.Error())
		if a.unchecked != nil {
			a.unchecked("directory")
		}
		in.note("auth", fmt.Sprintf("hosted-sender check not made: the directory did not say whether %s is hosted here (%v), so the envelope sender <%s> with spf=%s for %s was let through (docs/auth.md, \"Hosted senders\")",
			domain, err, env.From, res.SPF.Result, env.ClientAddr))
		return nil
	}
	if !hosted {
		return nil
	}
	why := fmt.Sprintf("the envelope sender <%s> is an address of %s, a domain hosted here, and SPF says %s is not its sender (spf=%s",
		env.From, domain, env.ClientAddr, res.SPF.Result)
	if res.SPF.Reason != "" {
		why += ": " + res.SPF.Reason
	}
	why += ")"
	e := diag.New("spf", "accept mail from outside with the sender", env.From, errors.New(why))
	e.Component, e.Class = "ebb serve", diag.Permanent
	e.SMTPCode, e.Enhanced = 550, [3]int{5, 7, 23}
	e.Public = fmt.Sprintf("<%s> is an address of a domain hosted here and SPF %s for %s: mail from %s must come from a host %s's SPF record lists, or be submitted with a login (port 587)",
		env.From, res.SPF.Result, env.ClientAddr, domain, domain)
	e.Setting = a.trustedSet
	e.Hint = "if " + env.ClientAddr + " really sends for " + domain + ", list it in " + domain + "'s SPF record (ebb dns check shows it), or add it to auth.trusted_networks; a user of " + domain + " sends through submission with a login"
	e.EnsureRef()
	return e
}
