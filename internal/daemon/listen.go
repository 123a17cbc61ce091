package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/policy"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/smtpd"
)

// bind opens the SMTP and metrics sockets while we may still be root.
func (d *daemon) bind() int {
	cfg := d.cfg
	for _, a := range cfg.SMTP.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return d.bindFailed(a, "smtp.listen", err)
		}
		d.smtpLn = append(d.smtpLn, l)
	}
	if cfg.Metrics.Listen != "" {
		l, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return d.bindFailed(cfg.Metrics.Listen, "metrics.listen", err)
		}
		d.metrLn = l
	}
	return 0
}

func (d *daemon) bindFailed(addr, key string, err error) int {
	d.closeSockets()
	if errors.Is(err, syscall.EADDRINUSE) {
		// The usual cause is a second ebb on the same spool: name it, as
		// the spool lock does.
		if holder := queue.LockHolder(d.cfg.Queue.Spool); holder != "" {
			de := diag.New("lock", "lock the spool with", filepath.Join(d.cfg.Queue.Spool, queue.LockFile), nil)
			de.Reason = "held by " + holder + " (and " + addr + " is in use)"
			de.Setting, de.Class = d.cfg.Setting("queue.spool"), diag.Temporary
			de.SetFix(diag.Because("only one ebb serve may use a spool", diag.Say("stop the other instance ("+holder+") first")))
			return d.fail(de, "lock")
		}
	}
	de := diag.New("listen", "listen on", addr, err)
	de.Setting, de.Class, de.Exit = d.cfg.Setting(key), diag.Temporary, diag.ExOSErr
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		de.SetFix(diag.Because("another program listens there", diag.Command("ss", "-ltnp", "sport = :"+portOf(addr)),
			diag.Say(fmt.Sprintf("stop the program it names, or change %s", key))))
	case errors.Is(err, syscall.EACCES):
		de.SetFix(diag.Because("ports below 1024 need root", diag.Say("start ebb serve as root (it drops to server.user after binding), or use a port above 1024 in "+key)))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		de.SetFix(diag.Because("no interface of this host has that address", diag.Say("fix "+key)))
	}
	return d.fail(de, "listen")
}

func (d *daemon) closeSockets() {
	for _, l := range d.smtpLn {
		l.Close()
	}
	d.smtpLn = nil
	if d.metrLn != nil {
		d.metrLn.Close()
		d.metrLn = nil
	}
}

func (d *daemon) inboundListeners() []smtpd.Listener {
	var ls []smtpd.Listener
	for i, l := range d.smtpLn {
		ls = append(ls, smtpd.Listener{
			Kind: smtpd.Inbound,
			Addr: d.cfg.SMTP.Listen[i],
			// A line must finish within the timeout of the previous one and
			// a session within smtp.max_session_time (slowloris).
			Net: smtpd.BoundedListener(l, d.cfg.SMTP.MaxSessionTime.Duration, false),
			// SRS reversal in front of the recipient check (srs.go).
			Policy: d.inboundPolicy(smtpd.InboundPolicy{Directory: d.dir, Deliverable: d.deliverable}),
		})
	}
	return ls
}

// hostPostmaster is what RCPT TO:<Postmaster> without a domain stands for
// (RFC 5321 §4.1.1.3): postmaster@ the domain added first, the host's
// own; "" when no domain is hosted. ebb route maps it the same way.
func (d *daemon) hostPostmaster(ctx context.Context) (string, error) {
	first, err := d.dir.FirstDomain(ctx)
	if err != nil || first == "" {
		return "", err
	}
	return "postmaster@" + first, nil
}

func smtpOptions(cfg *config.Config) smtpd.Options {
	host := cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host == "" {
		host = "localhost"
	}
	return smtpd.Options{
		Hostname:        host,
		MaxMessageBytes: int64(cfg.SMTP.MaxMessageSize),
		MaxRecipients:   cfg.SMTP.MaxRecipients,
		MaxConnections:  cfg.SMTP.MaxConnections,
		MaxPerIP:        cfg.SMTP.MaxPerIP,
		Reserved:        cfg.SMTP.Reserved,
		Trusted:         trustedNetworks(cfg),
		CommandTimeout:  cfg.SMTP.CommandTimeout.Duration,
		DataTimeout:     cfg.SMTP.DataTimeout.Duration,
	}
}

// trustedNetworks is submission.trusted_networks, validated at start-up
// (bindSubmission); the connection reserve is kept for them.
func trustedNetworks(cfg *config.Config) []netip.Prefix {
	nets, _ := policy.ParseNetworks(cfg.Submission.TrustedNetworks)
	return nets
}
