package daemon

import (
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/logging"
	"github.com/ebbmail/ebb/internal/wellknown"
)

// liveKeys are the settings SIGHUP applies to the running daemon. Every
// other key that changed is logged by name as needing a restart: the list
// of those is not kept by hand (config.Changed walks every section), so a
// section added later is reported without anyone remembering to.
var liveKeys = map[string]bool{
	"log.level":                   true,
	"server.hostname":             true, // greeting and Received of new sessions
	"smtp.max_message_size":       true, // new sessions (each gets its own limits)
	"smtp.max_recipients":         true,
	"smtp.max_connections":        true,
	"smtp.max_connections_per_ip": true,
	"smtp.reserved_connections":   true,
	"smtp.command_timeout":        true,
	"smtp.data_timeout":           true,
	// The certificate files are read again on every SIGHUP; only turning
	// STARTTLS on or off needs a restart (see reload).
	"smtp.tls_cert": true,
	"smtp.tls_key":  true,
	// What the HTTPS listener serves is generated per request (web.go).
	"web.mta_sts_mode":    true,
	"web.mta_sts_mx":      true,
	"web.mta_sts_max_age": true,
	"web.autoconfig":      true,
	"web.imap_host":       true,
	"web.imap_port":       true,
	"web.imap_tls":        true,
	"web.submission_host": true,
}

// reload is SIGHUP: read the config again and apply what can change while
// running (limits, timeouts, log level, certificates). A bad config is
// logged and the running one stays. Every other changed setting is logged
// with its name, the running and the new value, and "needs a restart".
func (d *daemon) reload() {
	cfg, err := config.Load(d.cfgPath)
	if err != nil {
		d.log.Error("reload: config not applied, the running configuration stays", "err", diag.From(err, "ebb serve", "reload").Sentence())
		return
	}
	if err := logging.SetLevel(d.log.Level, cfg.Log.Level); err != nil {
		d.log.Error("reload", "err", err)
	}
	d.smtp.SetOptions(smtpOptions(cfg))
	if d.certs != nil && cfg.SMTP.TLSCert != "" {
		d.certs.CertFile, d.certs.KeyFile = cfg.SMTP.TLSCert, cfg.SMTP.TLSKey
		if err := d.certs.Reload(); err != nil {
			d.log.Error("reload: TLS certificate not reloaded, the previous one stays", "err", err)
		} else if leaf := d.certs.Leaf(); leaf != nil {
			d.log.Info("reload: TLS certificate loaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
		}
	}
	if d.web != nil {
		d.web.SetSettings(wellknown.FromConfig(cfg))
		d.web.Forget() // domains added since are served at once
	}
	if d.acme != nil {
		// The admin may have fixed what made an order fail (DNS, a
		// port): try at once, and look at the hosted domains again.
		d.acme.RetryNow()
		go d.setACMEWanted(d.ctx)
	}
	if d.fetchRunner != nil {
		// An account added, changed or removed starts, restarts or
		// stops now, not at the next 30 s read.
		d.fetchRunner.Reread()
		d.log.Info("reload: the fetch accounts are read again")
	}
	scanLive := d.reloadScan(cfg) // scan.* (checks_scan.go)
	n := 0
	for _, c := range config.Changed(d.cfg, cfg) {
		live := liveKeys[c.Key] || scanLive && strings.HasPrefix(c.Key, "scan.")
		if c.Key == "smtp.tls_cert" && (cfg.SMTP.TLSCert == "") != (d.cfg.SMTP.TLSCert == "") {
			live = false // STARTTLS on or off: the listeners were built without or with it
		}
		if live {
			continue
		}
		n++
		d.log.Warn("reload: setting changed but needs a restart; the running value stays",
			"setting", c.Key, "running", c.Old, "new", c.New)
	}
	d.log.Info("configuration reloaded", "file", cfg.File, "needs_restart", n)
}
