package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailhdr"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/safeio"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/srs"
)

// SRS in the daemon (docs/srs.md): forward() and the Sieve redirect path
// rewrite the envelope sender of mail that leaves for another host
// (srsSender); port 25 refuses forged or expired SRS recipients at RCPT
// (srsPolicy) and the receiving adapter turns the valid ones back into the
// original sender before the message is queued (srsReverse).

// srsSecretPath is srs.secret_file with {data_dir} filled in.
func (d *daemon) srsSecretPath() string {
	return strings.ReplaceAll(d.cfg.SRS.SecretFile, "{data_dir}", d.cfg.Server.DataDir)
}

// startSRS loads the rewriter when srs.enable is set (runs as server.user,
// after the privilege drop, so that a secret it creates belongs to it).
func (d *daemon) startSRS() error {
	if !d.cfg.SRS.Enable {
		return nil
	}
	domain := d.cfg.SRS.Domain
	if domain == "" {
		domain = d.cfg.Server.Hostname
	}
	path := d.srsSecretPath()
	secrets, err := d.srsSecrets(path)
	if err != nil {
		return err
	}
	rw, err := srs.New(srs.Config{Domain: domain, Secrets: secrets, MaxAge: d.cfg.SRS.MaxAge.Duration})
	if err != nil {
		de := diag.New("srs", "set up SRS for", domain, err)
		de.Setting, de.Exit = d.cfg.Setting("srs.domain"), diag.ExConfig
		de.Hint = "set srs.domain to a domain whose MX is this host (or server.hostname)"
		return de
	}
	d.srs = rw
	d.log.Info("srs: forwarded mail gets SRS senders", "domain", rw.Domain(), "secret_file", path, "secrets", len(secrets))
	return nil
}

// srsSecrets reads the secret file, creating it with a random secret when
// it is missing. A file others may read is refused: with the secret anyone
// can make addresses that pass our RCPT check and relay through us.
func (d *daemon) srsSecrets(path string) ([]string, error) {
	setting := d.cfg.Setting("srs.secret_file")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !d.dryRun { // ebb route creates nothing
		b := make([]byte, 32)
		rand.Read(b)
		if err := safeio.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			de := diag.PathError("ebb serve", "create", "create the SRS secret", path, err, setting)
			de.Exit = diag.ExCantCreat
			return nil, de
		}
		d.log.Info("srs: created a new secret", "file", path)
		f, err = os.Open(path)
	}
	if err != nil {
		de := diag.PathError("ebb serve", "open", "read the SRS secret", path, err, setting)
		de.Exit = diag.ExConfig
		return nil, de
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
		de := diag.New("open", "use the SRS secret", path, fmt.Errorf("the file is mode %04o: others can read the secret", st.Mode().Perm()))
		de.Component, de.Setting, de.Exit = "ebb serve", setting, diag.ExConfig
		de.SetFix(diag.Steps(diag.Command("chmod", "0600", path), diag.Restart(setting)))
		return nil, de
	}
	var secrets []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			secrets = append(secrets, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, diag.PathError("ebb serve", "read", "read the SRS secret", path, err, setting)
	}
	if len(secrets) == 0 {
		de := diag.New("read", "use the SRS secret", path, errors.New("the file holds no secret"))
		de.Component, de.Setting, de.Exit = "ebb serve", setting, diag.ExConfig
		de.SetFix(diag.Because("ebb serve writes a random secret there when there is no file", diag.Command("rm", path), diag.Restart(setting)))
		return nil, de
	}
	return secrets, nil
}

// srsSender is the envelope sender for a copy of m (nil when unknown)
// that leaves for rcpts: an SRS address when SRS is on and some recipient
// is remote, the sender as it is otherwise. Senders in hosted domains,
// srs.exclude_domains and <> are never rewritten: their mail may leave with
// them as they are, unless m came from outside (below).
//
// A message from outside (queue.Envelope.External: port 25, fetched) is
// not ours to vouch for, as with DKIM (dkim.go): its copy must not leave
// with a sender whose SPF passes for our address and aligns with the
// From: it names, or a forged "From: ceo@hosted" with DMARC p=none here
// would pass DMARC at the next hop. So such a copy is not rewritten into an
// srs.domain in the organizational domain of its From: (it keeps its own
// sender, which our address does not pass for), and a hosted sender of it
// is rewritten like any other (docs/srs.md, "Mail from outside").
//
// why is not empty when a copy for a remote address leaves with a sender
// that is not ours (SRS off, or not rewritten): it says so, and the copy's
// queue item gets it as a journal record (srsNoted); each is logged and
// counted in ebb_srs_not_rewritten_total (principle 7).
func (d *daemon) srsSender(ctx context.Context, m *queue.Message, from string, rcpts []string) (sender, why string) {
	if from == "" {
		return from, ""
	}
	_, domain, ok := smtpd.SplitAddress(from)
	if !ok {
		return from, ""
	}
	external := m != nil && m.Envelope.External
	if d.srs != nil {
		for _, x := range d.cfg.SRS.Exclude {
			if strings.EqualFold(strings.TrimSuffix(x, "."), domain) {
				return from, ""
			}
		}
	}
	local, senderErr := d.dir.IsLocalDomain(ctx, domain)
	if senderErr == nil && local && !external {
		return from, "" // ours
	}
	// Only a copy for a remote address is rewritten, or noted as not
	// rewritten. An address whose domain the directory cannot place is
	// not taken for remote (as before), but where the sender's domain
	// cannot be placed either it may be: that copy is noted.
	remote, unplaced := false, false
	for _, r := range rcpts {
		if _, rd, ok := smtpd.SplitAddress(r); ok {
			local, err := d.dir.IsLocalDomain(ctx, rd)
			if err == nil && !local {
				remote = true
				break
			}
			unplaced = unplaced || err != nil
		}
	}
	if !remote && (senderErr == nil || !unplaced) {
		return from, ""
	}
	if d.srs == nil {
		return d.notRewritten(m, from, rcpts, "srs.enable is off; SPF at the next hop may fail for it (docs/srs.md)")
	}
	if senderErr != nil {
		// Unknown now: the copy leaves with its own sender, as without
		// SRS, since SPF may fail for it.
		return d.notRewritten(m, from, rcpts, "the directory did not answer whether "+domain+" is hosted here ("+senderErr.Error()+")")
	}
	if external {
		if why := d.srsAligns(m); why != "" {
			return d.notRewritten(m, from, rcpts, "the message came from outside and "+why+
				"; an SRS sender would pass SPF and DMARC for it at the next hop (set srs.domain to a domain of its own, docs/srs.md)")
		}
	}
	to, err := d.srs.Forward(from)
	if err != nil {
		return d.notRewritten(m, from, rcpts, "SRS cannot rewrite it ("+err.Error()+")")
	}
	d.log.Info("srs: sender rewritten for forwarding", "from", from, "srs", to, "rcpts", strings.Join(rcpts, ","))
	return to, ""
}

// notRewritten logs and counts a copy that leaves with its own sender
// (srsSender), and returns that sender and why, for the copy's record.
func (d *daemon) notRewritten(m *queue.Message, from string, rcpts []string, why string) (string, string) {
	d.srsNotRewritten.Add(1)
	id := ""
	if m != nil {
		id = m.ID
	}
	args := []any{"queue_id", id, "from", from, "rcpts", strings.Join(rcpts, ",")}
	if d.srs != nil {
		args = append(args, "srs_domain", d.srs.Domain())
	}
	d.log.Warn("srs: sender not rewritten: "+why, args...)
	return from, "sender not rewritten: sent on with its own sender <" + from + ">, not an SRS address: " + why
}

// srsNoted is the queue.ReceiveOptions of a copy whose sender was not
// rewritten (why from srsSender; "" for none): the copy's journal gets a
// record of it, "checked by srs: sender not rewritten …", which ebb
// explain tells after its received record.
func (d *daemon) srsNoted(why string) queue.ReceiveOptions {
	return d.noted("srs", why)
}

// srsAligns says why an SRS sender would align (DMARC, relaxed) with the
// From: of m: a From: domain in srs.domain's organizational domain, or a
// From: that cannot be read (it may name one). "" when none does.
func (d *daemon) srsAligns(m *queue.Message) string {
	f, err := m.OpenData()
	if err != nil {
		return "its From: could not be read (" + err.Error() + ")"
	}
	defer f.Close()
	// What the relay sends: the prefix, then the data (as dkim.go reads it).
	a, err := mailhdr.ReadAuthorsFrom(io.MultiReader(strings.NewReader(m.Prefix()), f))
	if err != nil {
		return "its From: could not be read (" + err.Error() + ")"
	}
	if a.Incomplete != "" {
		return "its From: cannot be judged (" + a.Incomplete + ")"
	}
	org := msgauth.OrgDomain(d.srs.Domain())
	for _, fd := range a.Domains {
		if msgauth.OrgDomain(fd) == org {
			return "its From: domain " + fd + " is in the organizational domain of srs.domain (" + org + ")"
		}
	}
	return ""
}

// srsPolicy is port 25's recipient check with SRS in front: an SRS address
// of srs.domain is a bounce coming back to a sender we forwarded for. A
// valid one is accepted (whatever the directory says of srs.domain); a
// forged or expired one is refused with 550 (RFC 3463 5.7.1 / 5.1.1), so
// that nobody uses our SRS domain to relay. Any other address goes to the
// inbound policy as before.
type srsPolicy struct {
	smtpd.Policy
	rw *srs.Rewriter
}

func (p srsPolicy) Rcpt(ctx context.Context, s *smtpd.SessionInfo, to string, opts *smtpd.RcptOptions) error {
	if !p.rw.IsSRS(to) {
		return p.Policy.Rcpt(ctx, s, to, opts)
	}
	if _, err := p.rw.Reverse(to); err != nil {
		var se *srs.Error
		if errors.As(err, &se) && se.Expired {
			return &smtpd.Reply{Code: 550, Enhanced: [3]int{5, 1, 1},
				Message: fmt.Sprintf("<%s>: SRS address expired (%s)", to, se.Reason)}
		}
		return &smtpd.Reply{Code: 550, Enhanced: [3]int{5, 7, 1},
			Message: fmt.Sprintf("<%s>: invalid SRS address: not made here", to)}
	}
	return nil
}

// inboundPolicy is the port 25 policy, with SRS reversal when it is on.
func (d *daemon) inboundPolicy(p smtpd.Policy) smtpd.Policy {
	if d.srs == nil {
		return p
	}
	return srsPolicy{Policy: p, rw: d.srs}
}

// srsReverse turns the SRS recipients of env (checked at RCPT) back into
// the addresses they stand for, keeping their DSN parameters. Once queued,
// the bounce goes to the original sender as any other message would.
func srsReverse(rw *srs.Rewriter, env *queue.Envelope, log func(msg string, args ...any)) {
	if rw == nil {
		return
	}
	for i, a := range env.Recipients {
		if !rw.IsSRS(a) {
			continue
		}
		orig, err := rw.Reverse(a)
		if err != nil {
			continue // refused at RCPT; a message has none of these
		}
		env.Recipients[i] = orig
		if p, ok := env.RcptDSN[a]; ok {
			delete(env.RcptDSN, a)
			env.RcptDSN[orig] = p
		}
		log("srs: recipient reversed", "srs", a, "to", orig, "from", env.From)
	}
}

// withSRS lets the queue deliver to SRS addresses of srs.domain: the DSNs
// the queue itself makes for a forwarded copy go to its SRS sender, and
// are delivered to the address it stands for (local or remote), as a bounce
// coming in over port 25 is (srsReverse). A forged one fails at once.
func (d *daemon) withSRS(t queue.Transports) queue.Transports {
	if d.srs == nil {
		return t
	}
	rw, route, local, remote := d.srs, t.Route, t.Local, t.Remote
	if remote == nil {
		remote = queue.NoRemote
	}
	if route == nil {
		route = func(context.Context, string) (queue.Route, error) { return queue.Local, nil }
	}
	t.Route = func(ctx context.Context, rcpt string) (queue.Route, error) {
		if rw.IsSRS(rcpt) {
			return queue.Local, nil // the wrapper below sends it on
		}
		return route(ctx, rcpt)
	}
	t.Local = queue.TransportFunc(func(ctx context.Context, m *queue.Message, r *queue.Recipient) error {
		if !rw.IsSRS(r.Address) {
			return local.Deliver(ctx, m, r)
		}
		orig, err := rw.Reverse(r.Address)
		if err != nil {
			de := diag.New("srs", "reverse the SRS address", r.Address, err)
			de.Component, de.Class = "ebb serve", diag.Permanent
			de.SMTPCode, de.Enhanced, de.Public = 550, [3]int{5, 1, 1}, "Invalid SRS address"
			de.Setting = d.cfg.Setting("srs.max_age")
			de.Hint = "the address was not made with a current secret (srs.secret_file) or is older than srs.max_age"
			return de
		}
		rc := *r
		rc.Address = orig
		rt, err := route(ctx, orig)
		if err != nil {
			return err
		}
		tr := local
		if rt == queue.Remote {
			tr = remote
		}
		err = tr.Deliver(ctx, m, &rc)
		r.Done, r.Relay = rc.Done, rc.Relay
		return err
	})
	return t
}

// srsMetrics exports the forwarded copies that left with a sender not
// ours and not SRS-rewritten (they may fail SPF at the next hop; each is
// also a log line and a journal record), SRS on or off.
func (d *daemon) srsMetrics() {
	d.metrics.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ebb_srs_not_rewritten_total",
		Help: "Copies forwarded to remote addresses that left with their own sender, not an SRS one (srs.enable off, or the log and ebb explain say why)."},
		func() float64 { return float64(d.srsNotRewritten.Load()) }))
}
