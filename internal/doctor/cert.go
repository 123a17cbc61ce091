package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// certWarnBefore is how close to expiry a certificate makes doctor warn.
const certWarnBefore = 14 * 24 * time.Hour

// checkCert checks a certificate that ebb serve offers (smtp.tls_cert,
// submission.tls_cert): readable (as the user that starts ebb serve, and by
// server.user for a SIGHUP reload), a valid pair, in its validity period, not
// near its end, and naming server.hostname. certKey and keyKey are the
// settings that chose certFile and keyFile.
func checkCert(env *Env, name, certKey, keyKey, certFile, keyFile string) []Finding {
	setting := env.Cfg.Setting(certKey)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		var pe *os.PathError
		var e *diag.Error
		if errors.As(err, &pe) {
			key := certKey
			if pe.Path == keyFile {
				key = keyKey
			}
			e = diag.PathError("ebb doctor", "open", "read the TLS certificate or key", pe.Path, err, env.Cfg.Setting(key))
		} else {
			e = diag.New("load", "load the TLS certificate", certFile, err)
			e.Setting = setting
			e.Hint = certKey + " must be a PEM certificate chain and " + keyKey + " its private key"
		}
		e.Class = diag.Temporary
		return []Finding{Failed(name, e)}
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		e := diag.New("parse", "parse the TLS certificate", certFile, err)
		e.Setting = setting
		return []Finding{Failed(name, e)}
	}
	var out []Finding
	now := time.Now()
	switch {
	case now.Before(leaf.NotBefore):
		e := diag.New("verify", "use the TLS certificate", certFile, fmt.Errorf("it is valid only from %s", leaf.NotBefore.Format(time.DateTime)))
		e.Setting, e.Hint = setting, "check the clock of this host, or use a certificate valid now"
		return []Finding{Failed(name, e)}
	case now.After(leaf.NotAfter):
		e := diag.New("verify", "use the TLS certificate", certFile, fmt.Errorf("it expired on %s", leaf.NotAfter.Format(time.DateOnly)))
		e.Setting = setting
		e.SetFix(diag.Steps(diag.Say("renew it"), diag.Reload(setting)))
		return []Finding{Failed(name, e)}
	case leaf.NotAfter.Sub(now) < certWarnBefore:
		e := diag.New("verify", "use the TLS certificate", certFile, fmt.Errorf("it expires on %s, in %s", leaf.NotAfter.Format(time.DateOnly), diag.Count(int(leaf.NotAfter.Sub(now).Hours()/24), "day")))
		e.Setting = setting
		e.SetFix(diag.Steps(diag.Say("renew it"), diag.Reload(setting)))
		out = append(out, Warned(name, e))
	}
	host := env.Cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host != "" && leaf.VerifyHostname(host) != nil {
		names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
		e := diag.New("verify", "use the TLS certificate", certFile, fmt.Errorf("it names %s, not %s (server.hostname)", strings.Join(names, ", "), host))
		e.Setting, e.Hint = setting, "use a certificate for "+host+", or set server.hostname to the name clients connect to"
		out = append(out, Warned(name, e))
	}
	// ebb serve reads the key as root before it drops privileges; a
	// SIGHUP reload reads it again as server.user.
	if u, err := mailuser.Lookup(env.Cfg); err == nil && os.Geteuid() == 0 {
		uid, gid := u.UID, u.GID
		if !readableBy(keyFile, uid, gid) {
			e := diag.PathError("ebb doctor", "open", "read the TLS key as server.user", keyFile, os.ErrPermission, env.Cfg.Setting(keyKey))
			e.Who = &diag.Identity{UID: uid, User: u.Name, GID: gid}
			// Not a chgrp of the key itself: it holds a secret and may be
			// shared (certbot's privkey.pem); give ebb a copy of its own,
			// beside its config, that only root and the mail user's group
			// read.
			s := env.Cfg.Setting(keyKey)
			own := filepath.Join(filepath.Dir(orDefault(env.Cfg.File)), "tls", filepath.Base(keyFile))
			e.SetFix(diag.Because("ebb serve loads it at start as root, but a reload (SIGHUP) runs as "+u.Name+
				"; give ebb a copy of its own (and make the certificate tool's renewal hook copy it again)",
				diag.Command("install", "-D", "-o", "root", "-g", groupName(gid), "-m", "0640", keyFile, own),
				diag.SetString(s, own), diag.Reload(s)))
			out = append(out, Warned(name, e))
		}
	}
	if len(out) == 0 {
		out = append(out, Passed(name, certFile, fmt.Sprintf("valid for %s until %s", host, leaf.NotAfter.Format(time.DateOnly))))
	}
	return out
}
