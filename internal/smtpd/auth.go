package smtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/metrics"
	"github.com/ebbmail/ebb/internal/passwd"
	"github.com/ebbmail/ebb/internal/policy"
)

// Logins checks a user name and password; *directory.Directory is one.
type Logins interface {
	Authenticate(ctx context.Context, address, password string) (*directory.Mailbox, error)
}

// SASLAuth is the Authenticator of the submission listeners: AUTH PLAIN
// and LOGIN (RFC 4954) against the directory, offered only over TLS
// (the engine answers 523 5.7.10 to AUTH before it). A wrong password is
// 535 5.7.8; failures are counted per source and per account, the account's
// budget across all sources (policy.AuthGuard): answered later and later,
// then refused with 454 4.7.0, and every failure is logged with the IP and
// the account.
type SASLAuth struct {
	Logins Logins
	Guard  *policy.AuthGuard
	Offer  []string
	Log    *slog.Logger
	// Metrics counts the outcome of every login (nil: not counted).
	Metrics *metrics.Metrics
	// Sleep waits before answering a failed login (time.Sleep when nil).
	Sleep func(ctx context.Context, d time.Duration)
}

// Mechanisms is what EHLO offers after STARTTLS.
func (a *SASLAuth) Mechanisms(s *SessionInfo) []string {
	var out []string
	for _, m := range a.Offer {
		switch m = strings.ToUpper(m); m {
		case sasl.Plain, sasl.Login:
			out = append(out, m)
		}
	}
	return out
}

func (a *SASLAuth) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *SASLAuth) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	if a.Sleep != nil {
		a.Sleep(ctx, d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// errAuthFailed is RFC 4954 §6: 535 5.7.8, the same words for a wrong
// password and an unknown user.
var errAuthFailed = &Reply{Code: 535, Enhanced: [3]int{5, 7, 8}, Message: "Authentication credentials invalid"}

// errUnknownMechanism is RFC 4954 §4: 504 for a mechanism not offered.
var errUnknownMechanism = &Reply{Code: 504, Enhanced: [3]int{5, 5, 4}, Message: "Authentication mechanism not offered"}

func tooMany(v policy.Verdict) *Reply {
	what := "from your address"
	if v.Why != "ip" {
		what = "for this account from your address"
	}
	return &Reply{Code: 454, Enhanced: [3]int{4, 7, 0},
		Message: fmt.Sprintf("Too many failed logins %s; try again after %s", what, v.Until.UTC().Format("15:04 MST"))}
}

// lockedOut is a login the AUTH guard refused before checking it (tooMany),
// with a ref and why, for the observer (principle 1).
func lockedOut(ip, username string, v policy.Verdict) *authTrouble {
	var why, setting string
	switch v.Why {
	case "ip":
		why, setting = fmt.Sprintf("%d failed logins from %s (or its /64) recently", v.IPFailures, ip), "submission.auth_max_failures_per_ip"
	case "account-day":
		why, setting = fmt.Sprintf("%d failed logins for the account today", v.DayFailures), "submission.auth_max_failures_per_account_day"
	default:
		why, setting = fmt.Sprintf("%d failed logins for the account from sources like this one recently", v.AccountFailures), "submission.auth_max_failures_per_account"
	}
	why += fmt.Sprintf(", the most taken (%s); refused until %s without checking the password", setting, v.Until.UTC().Format("15:04:05 MST"))
	return loginRefused("locked out "+v.Why, username, tooMany(v), why,
		"if these are the user's own tries, wait until then (or raise "+setting+"); else someone is guessing the password: the source is logged with each failure")
}

// loginRefused is r with a ref, as an authTrouble the session observes.
func loginRefused(kind, username string, r *Reply, why, hint string) *authTrouble {
	rep, ref := withRef(r)
	d := &diag.Error{Component: "ebb serve", Op: "auth", Doing: "check a login", Path: username, Reason: why,
		SMTPCode: rep.Code, Enhanced: rep.Enhanced, Public: rep.Message, Ref: ref, Class: diag.Temporary, Hint: hint}
	return &authTrouble{kind: kind, account: username, diag: d, reply: rep}
}

// Server starts one AUTH exchange.
func (a *SASLAuth) Server(ctx context.Context, s *SessionInfo, mech string) (sasl.Server, error) {
	ip := s.RemoteIP
	if v, err := a.Guard.Check(ctx, ip, ""); err != nil {
		return nil, a.deferred(s, ip, "", err)
	} else if v.Refused {
		e := lockedOut(ip, "", v)
		e.logFirst = func(ref string) {
			a.log().Warn("smtp auth refused", "conn", s.ConnID, "remote", ip, "why", v.Why, "failures", v.IPFailures, "until", v.Until, "ref", ref)
		}
		a.Metrics.Auth("refused")
		return nil, e
	}
	check := func(username, password string) error { return a.check(ctx, s, mech, username, password) }
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			// Logging in as one user to act as another (RFC 4616
			// authorization identity) is not offered.
			if identity != "" && !strings.EqualFold(identity, username) {
				a.log().Warn("smtp auth failed", "conn", s.ConnID, "remote", ip, "account", username, "reason", "authorization identity "+identity+" differs")
				return errAuthFailed
			}
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, errUnknownMechanism
}

// check verifies one login, counting failures and delaying their answer.
func (a *SASLAuth) check(ctx context.Context, s *SessionInfo, mech, username, password string) error {
	ip := s.RemoteIP
	v, err := a.Guard.Check(ctx, ip, username)
	if err != nil {
		return a.deferred(s, ip, username, err)
	}
	if v.Refused {
		e := lockedOut(ip, username, v)
		e.logFirst = func(ref string) {
			a.log().Warn("smtp auth refused", "conn", s.ConnID, "remote", ip, "account", username, "why", v.Why,
				"ip_failures", v.IPFailures, "account_failures", v.AccountFailures, "day_failures", v.DayFailures, "until", v.Until,
				"ref", ref)
		}
		a.Metrics.Auth("refused")
		return e
	}
	if v.IPFailures == 0 || v.Familiar {
		// A source without recent failures, or one the account logged in
		// from before (the owner, usually), waits for its password check
		// ahead of those that keep failing.
		ctx = passwd.First(ctx)
	}
	mb, err := a.Logins.Authenticate(ctx, username, password)
	if err != nil {
		if errors.Is(err, directory.ErrAuthFailed) {
			v, gerr := a.Guard.Failed(ctx, ip, username, password)
			if gerr != nil {
				return a.deferred(s, ip, username, gerr)
			}
			delay := a.Guard.Delay(v)
			a.log().Warn("smtp auth failed", "conn", s.ConnID, "remote", ip, "account", username, "mechanism", mech,
				"ip_failures", v.IPFailures, "account_failures", v.AccountFailures, "familiar", v.Familiar, "repeat", v.Repeat,
				"delay", delay.String(), "reason", err.Error())
			a.Metrics.Auth("failed")
			a.sleep(ctx, delay)
			return errAuthFailed // 535 5.7.8 (RFC 4954 §6)
		}
		if errors.Is(err, directory.ErrAuthBusy) {
			// Password checks are bounded (directory.auth_concurrency,
			// auth_memory); this one waited directory.auth_wait in vain.
			e := loginRefused("busy", username, &Reply{Code: 454, Enhanced: [3]int{4, 7, 0},
				Message: "Too many logins being checked at once, try again later"}, "the password checks running at once are at their bound and this one waited directory.auth_wait in vain ("+err.Error()+")",
				"a burst of logins: nothing to do; if it lasts, raise directory.auth_concurrency (and directory.auth_memory) or directory.auth_wait")
			e.logFirst = func(ref string) {
				a.log().Warn("smtp auth busy", "conn", s.ConnID, "remote", ip, "account", username, "reason", err.Error(), "ref", ref)
			}
			a.Metrics.Auth("busy")
			return e
		}
		return a.deferred(s, ip, username, err)
	}
	if err := a.Guard.Succeeded(ctx, ip, username); err != nil {
		a.log().Warn("smtp auth: cannot note the source as familiar to the account", "conn", s.ConnID, "remote", ip, "account", mb.Address, "err", err)
	}
	a.Metrics.Auth("ok")
	s.SetAuthUser(mb.Address)
	a.log().Info("smtp auth", "conn", s.ConnID, "remote", ip, "account", mb.Address, "mechanism", mech)
	return nil
}

// deferred answers a login that our own trouble (the directory, the
// failure counts) keeps from being checked: 454 4.7.0 with a ref, which
// the session reports to the refusal observer with the diagnosis
// (authTrouble), so that ebb explain REF tells it.
func (a *SASLAuth) deferred(s *SessionInfo, ip, username string, err error) error {
	a.Metrics.Auth("deferred")
	d := diag.From(err, "ebb serve", "auth")
	d.EnsureRef()
	return &authTrouble{kind: "deferred " + d.Op + " " + d.Path + " " + d.Reason, account: username, diag: d,
		reply: &Reply{Code: 454, Enhanced: [3]int{4, 7, 0}, Message: "Temporary authentication failure, try again later (ref " + d.Ref + ")"},
		logFirst: func(string) {
			a.log().Error("smtp auth deferred", "conn", s.ConnID, "remote", ip, "account", username, "ref", d.Ref, "diag", d)
		}}
}

// authTrouble is a login refused with a ref: our own trouble kept it from
// being checked, or the AUTH guard or the password checks' bound refused
// it. It holds the reply the client gets (it unwraps to it), the account
// it tried, and why, with the ref of the reply.
type authTrouble struct {
	// kind tells refusals apart for the journal's bound (flood.go).
	kind    string
	account string
	diag    *diag.Error
	reply   *Reply
	// logFirst logs the refusal when it is the first of its ref (the
	// bound's), with the ref; nil: not logged.
	logFirst func(ref string)
	observed bool
}

func (e *authTrouble) Error() string { return e.reply.Error() }
func (e *authTrouble) Unwrap() error { return e.reply }

// observedSASL is a mechanism whose failures with a ref reach the
// session's refusal observer.
type observedSASL struct {
	sasl.Server
	s *session
}

func (o observedSASL) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := o.Server.Next(response)
	if err != nil {
		o.s.authRefused(err)
	}
	return challenge, done, err
}

// authRefused tells the observer of an AUTH answered with a ref.
func (s *session) authRefused(err error) {
	var at *authTrouble
	if errors.As(err, &at) && !at.observed {
		// The reply is read from at after this: it carries the ref the
		// bound gives (flood.go).
		at.observed = true
		var first bool
		at.reply, first = s.refusedAuth("auth "+at.kind, at.account, at.reply, at.diag)
		if first && at.logFirst != nil {
			at.logFirst(at.diag.Ref)
		}
	}
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login): the
// server asks "Username:" and "Password:", each answer base64 in SMTP.
// go-sasl has only the client side.
type loginServer struct {
	check    func(username, password string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		// An initial response carries the user name (AUTH LOGIN <b64>).
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.username, string(response))
	}
	return nil, false, errors.New("unexpected response")
}

// ipOf parses SessionInfo.RemoteIP for the relay policy.
func ipOf(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}
