package daemon

import (
	"slices"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/logging"
)

// reload is SIGHUP: read the config again and apply what can change while
// running (limits, timeouts, log level, certificates). A bad config is
// logged and the running one stays.
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
	var restart []string
	if !slices.Equal(cfg.SMTP.Listen, d.cfg.SMTP.Listen) {
		restart = append(restart, "smtp.listen")
	}
	if (cfg.SMTP.TLSCert == "") != (d.cfg.SMTP.TLSCert == "") {
		restart = append(restart, "smtp.tls_cert")
	}
	if cfg.SMTP.MaxMessageSize != d.cfg.SMTP.MaxMessageSize || cfg.SMTP.MaxRecipients != d.cfg.SMTP.MaxRecipients {
		restart = append(restart, "smtp.max_message_size/max_recipients")
	}
	if cfg.Queue.Spool != d.cfg.Queue.Spool || cfg.Metrics.Listen != d.cfg.Metrics.Listen {
		restart = append(restart, "queue.spool/metrics.listen")
	}
	if len(restart) > 0 {
		d.log.Warn("reload: these settings changed and apply only after a restart", "settings", strings.Join(restart, ","))
	}
	d.log.Info("configuration reloaded", "file", cfg.File)
}
