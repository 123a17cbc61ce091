package daemon

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/queue"
)

// dkimSign is how mail leaving ebb is signed (issue 11): once per message,
// as it leaves the queue, reading the spool file; it returns the
// DKIM-Signature header lines (CRLF) to write in front of the message. nil
// means nothing is signed (dkim.sign = false).
//
// Only mail that starts here is signed: one that came from outside
// (queue.Envelope.External: port 25, fetched), and its forwards and Sieve
// redirects, leaves with the signatures it came with, so that a forged
// From: of a hosted domain is not vouched for by our key.
//
// What is signed is what the relay sends: the prefix, then the data. A
// From: domain without a key gives "" and why (unsigned), said in the log,
// ebb_dkim_unsigned_total{reason} and each recipient's handoff (ebb
// explain): principle 7. A key that cannot be read is our trouble, a
// temporary error, so that the message waits for the fix rather than
// leaving unsigned into a DMARC reject.
func (d *daemon) dkimSign() func(ctx context.Context, m *queue.Message) (header, unsigned string, err error) {
	if !d.cfg.DKIM.Sign {
		return nil
	}
	s := &msgauth.Signer{KeyDir: d.cfg.DKIMKeyDir(), Headers: d.cfg.DKIM.Headers}
	return func(ctx context.Context, m *queue.Message) (string, string, error) {
		if m.Envelope.External {
			// Mail from outside is not ours to vouch for, whatever its
			// From: says (queue.Envelope.External): it leaves with the
			// signatures it came with.
			return "", "", nil
		}
		f, err := m.OpenData()
		if err != nil {
			return "", "", diag.PathError("ebb serve", "open", "open the message to sign", m.File, err, d.cfg.Setting("queue.spool"))
		}
		defer f.Close()
		r := io.MultiReader(strings.NewReader(m.Prefix()), f)
		sig, why, err := s.SignWhy(r)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			e := diag.PathError("ebb serve", "read", "read the DKIM key", pe.Path, pe.Err, d.cfg.DKIMKeyDirSetting())
			e.Class = diag.Temporary
			// A key root made, unreadable by the mail user: diag gives it
			// to that user alone, as ebb dkim keygen run as root does.
			return "", "", e
		}
		if err != nil {
			e := diag.New("dkim", "sign the message with the keys in", d.cfg.DKIMKeyDir(), err)
			e.Component, e.Class = "ebb serve", diag.Temporary
			e.Setting = d.cfg.DKIMKeyDirSetting()
			s := d.cfg.Setting("dkim.sign")
			e.SetFix(diag.Steps(diag.Command("ebb", "dkim", "list", "-c", cfgFile(d.cfg))).
				OrElse(diag.Because("to send unsigned", diag.Set(s, "false"), diag.Restart(s))))
			return "", "", e
		}
		if why != nil {
			if d.dkimUnsigned != nil { // ebb serve's
				d.dkimUnsigned.WithLabelValues(why.Reason).Inc()
			}
			if d.log != nil {
				d.log.Warn("dkim: message leaves unsigned: "+why.Reason, "queue_id", m.ID, "from_domains", strings.Join(why.Domains, ","),
					"key_dir", why.KeyDir, "hint", "ebb dkim keygen DOMAIN makes a key (docs/dkim.md)")
			}
			return "", why.String(), nil
		}
		return sig, "", nil
	}
}

// cfgFile is the config file the daemon reads, for a command in a fix.
func cfgFile(cfg *config.Config) string {
	if cfg.File == "" {
		return config.DefaultPath
	}
	return cfg.File
}
