package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/pickupd"
	"github.com/ebbmail/ebb/internal/policy"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/scan"
	"github.com/ebbmail/ebb/internal/smtpd"
	"github.com/ebbmail/ebb/internal/tide"
)

// submission is what ebb serve runs for issue 5: the submission listeners
// (587 STARTTLS, 465 implicit TLS) with AUTH and the relay policy, and the
// pickup receiver for ebb sendmail. serve.go calls bindSubmission before
// dropping privileges, submissionListeners when it builds the SMTP server,
// and startPickup once the queue runs.
type submission struct {
	plain    []net.Listener // submission.listen
	implicit []net.Listener // submission.listen_tls
	certs    *smtpd.Certificates
	pickup   *pickupd.Receiver
	guard    *policy.AuthGuard
}

// bindSubmission binds the submission ports and creates the pickup
// directory and socket while ebb serve may still be root.
func (d *daemon) bindSubmission() int {
	cfg := d.cfg
	s := &submission{}
	d.sub = s
	if _, err := policy.ParseNetworks(cfg.Submission.TrustedNetworks); err != nil {
		de := diag.New("parse", "use the trusted networks", "", err)
		de.Setting, de.Class, de.Exit = cfg.Setting("submission.trusted_networks"), diag.Permanent, diag.ExConfig
		de.Hint = "write networks in CIDR form, e.g. 127.0.0.0/8 or ::1/128"
		return d.fail(de, "parse")
	}
	if len(cfg.Submission.Listen)+len(cfg.Submission.ListenTLS) > 0 {
		certFile, keyFile, key := cfg.Submission.TLSCert, cfg.Submission.TLSKey, "submission.tls_cert"
		if certFile == "" {
			certFile, keyFile, key = cfg.SMTP.TLSCert, cfg.SMTP.TLSKey, "smtp.tls_cert"
		}
		if certFile == "" && cfg.ACME.Enable {
			// The server's ACME certificate (acme.go): s.certs stays nil
			// and the listeners use the server's.
		} else if certFile == "" {
			de := diag.New("load", "offer submission without a TLS certificate on", firstOf(cfg.Submission.Listen, cfg.Submission.ListenTLS), nil)
			de.Reason = "AUTH is only offered over TLS, so submission without a certificate could never log anyone in"
			de.Setting, de.Class, de.Exit = cfg.Setting("submission.tls_cert"), diag.Permanent, diag.ExConfig
			de.Hint = "set submission.tls_cert and submission.tls_key (or smtp.tls_cert), or empty submission.listen and submission.listen_tls"
			return d.fail(de, "load")
		}
		if certFile != "" {
			c, err := smtpd.LoadCertificates(certFile, keyFile)
			if err != nil {
				de := diag.New("load", "load the submission TLS certificate", certFile, err)
				de.Setting, de.Exit = cfg.Setting(key), diag.ExConfig
				de.Hint = "check " + key + " and its key (PEM, readable by the user ebb starts as); ebb doctor checks them"
				return d.fail(de, "load")
			}
			s.certs = c
		}
	}
	for _, a := range cfg.Submission.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			s.close()
			return d.bindFailed(a, "submission.listen", err)
		}
		s.plain = append(s.plain, smtpd.BoundedListener(l, cfg.Submission.MaxSessionTime.Duration, false))
	}
	for _, a := range cfg.Submission.ListenTLS {
		l, err := net.Listen("tcp", a)
		if err != nil {
			s.close()
			return d.bindFailed(a, "submission.listen_tls", err)
		}
		s.implicit = append(s.implicit, smtpd.BoundedListener(l, cfg.Submission.MaxSessionTime.Duration, true))
	}
	uid, gid := -1, -1
	if u, err := mailuser.ForRoot(cfg); err != nil {
		s.close()
		return d.fail(err, "lookup")
	} else if u != nil {
		uid, gid = u.UID, u.GID
	}
	s.pickup = &pickupd.Receiver{
		Dir:      cfg.PickupDir(),
		Socket:   cfg.Sendmail.Socket,
		UID:      uid,
		GID:      gid,
		Interval: cfg.Sendmail.ScanInterval.Duration,
		MaxSize:  int64(cfg.SMTP.MaxMessageSize),
		Log:      d.log.With("component", "pickup"),
	}
	// Not fatal: mail from the network must keep flowing. ebb sendmail
	// then says the same thing to its caller, and ebb doctor too.
	de := pickup.SocketTooLong(pickup.SocketPath(cfg.PickupDir(), cfg.Sendmail.Socket), cfg.PickupSocketSetting())
	if de != nil {
		de.Component = "ebb serve"
	} else if err := s.pickup.Bind(); err != nil {
		de = diag.PathError("ebb serve", "listen", "open the pickup directory for ebb sendmail", cfg.PickupDir(), err, cfg.PickupDirSetting())
	}
	if de != nil {
		fmt.Fprintln(d.stderr, de.Sentence())
		d.log.Error("local submission (ebb sendmail) is off", "diag", de)
		s.pickup = nil
	}
	return 0
}

func firstOf(lists ...[]string) string {
	for _, l := range lists {
		if len(l) > 0 {
			return l[0]
		}
	}
	return ""
}

// submissionListeners are the 587 and 465 listeners, with AUTH against the
// directory and the submission policy.
func (d *daemon) submissionListeners() []smtpd.Listener {
	s, cfg := d.sub, d.cfg
	if s == nil || len(s.plain)+len(s.implicit) == 0 {
		return nil
	}
	s.guard = policy.NewAuthGuard(authLimits(cfg), d.authStore()) // cluster.go: every host counts together
	s.guard.Canonical = d.dir.LoginKey
	auth := &smtpd.SASLAuth{Logins: d.dir, Guard: s.guard, Offer: cfg.Submission.AuthMechanisms,
		Log: d.log.With("component", "auth"), Metrics: d.metrics}
	pol := d.submissionPolicy()
	var ls []smtpd.Listener
	for i, l := range s.plain {
		ls = append(ls, smtpd.Listener{Kind: smtpd.Submission, Addr: cfg.Submission.Listen[i], Net: l,
			Policy: pol, Auth: auth, TLS: s.certs})
	}
	for i, l := range s.implicit {
		ls = append(ls, smtpd.Listener{Kind: smtpd.SubmissionTLS, Addr: cfg.Submission.ListenTLS[i], Net: l,
			ImplicitTLS: true, Policy: pol, Auth: auth, TLS: s.certs})
	}
	return ls
}

// submissionPolicy is the MAIL/RCPT policy of the submission listeners
// (ebb route --port 587 asks the same one).
func (d *daemon) submissionPolicy() *smtpd.SubmissionPolicy {
	cfg := d.cfg
	nets, _ := policy.ParseNetworks(cfg.Submission.TrustedNetworks) // validated by config check
	return &smtpd.SubmissionPolicy{
		Relaying:    &policy.Relaying{Domains: d.dir, TrustedNetworks: nets},
		Senders:     d.senders(), // checks_sender.go: the header is checked by the same rule
		Directory:   d.dir,
		Deliverable: d.deliverable,
		PerIP:       d.rate("submission-ip", cfg.Submission.MaxMessagesPerIP), // cluster.go: every host counts together
		PerAccount:  d.rate("submission-account", cfg.Submission.MaxMessagesPerUser),
		Log:         d.log.With("component", "submission"),
	}
}

func authLimits(cfg *config.Config) policy.AuthLimits {
	sc := cfg.Submission
	return policy.AuthLimits{
		FreeFailures:     sc.AuthFailuresBeforeDelay,
		Delay:            sc.AuthFailureDelay.Duration,
		MaxDelay:         30 * time.Second,
		MaxPerIP:         sc.AuthMaxFailuresPerIP,
		MaxPerAccount:    sc.AuthMaxFailuresPerUser,
		MaxPerAccountDay: sc.AuthMaxFailuresPerDay,
		Window:           sc.AuthFailureWindow.Duration,
		FamiliarFor:      sc.AuthFamiliarFor.Duration,
	}
}

// startPickup runs the pickup receiver (socket and directory scan) into
// the queue until ctx ends, and sweeps the AUTH failure counts.
func (d *daemon) startPickup(ctx context.Context) {
	s := d.sub
	if s == nil || s.pickup == nil {
		return
	}
	host := smtpOptions(d.cfg).Hostname
	s.pickup.Queue, s.pickup.Hostname = d.recv, host // receive.go: the one hand-off
	s.pickup.Flush = func(ctx context.Context, id string) error {
		var ids []string
		if id != "" {
			ids = []string{id}
		}
		_, err := d.q.Flush(ids...)
		return err
	}
	s.pickup.Mailq = func(ctx context.Context, w io.Writer) error {
		// What ebb mailq says to whoever may read the spool.
		if err := queue.WriteMailq(w, d.cfg, false, time.Now()); err != nil {
			return err
		}
		scan.WriteBreakerNotes(w, filepath.Join(d.cfg.Server.DataDir, scan.BreakerFile), time.Now())
		if hosts := d.otherHosts(); hosts != nil {
			tide.WriteHosts(w, hosts()) // several hosts: theirs too (cluster.go)
		}
		return nil
	}
	go func() {
		if err := s.pickup.Serve(ctx); err != nil {
			d.log.Error("pickup stopped", "err", err)
		}
	}()
	if s.guard != nil {
		go func() {
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := s.guard.Sweep(ctx); err != nil {
						d.log.Warn("cannot expire the AUTH failure counts", "err", err)
					}
				}
			}
		}()
	}
}

func (s *submission) close() {
	if s == nil {
		return
	}
	for _, l := range append(s.plain, s.implicit...) {
		l.Close()
	}
	if s.pickup != nil {
		s.pickup.Close()
	}
}

// closeSubmission releases what bindSubmission opened.
func (d *daemon) closeSubmission() { d.sub.close() }
