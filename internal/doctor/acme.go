package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/acme"
	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
)

// acmeChecks: with acme.enable, acme.dir is writable by server.user and
// every certificate ebb wants (the server's, and mta-sts./autoconfig. of
// each hosted domain) is stored, valid, not near its end, its key 0600 and
// server.user's; a failing order is reported with the CA's own words and
// the fix (from state.json, which ebb serve writes at every attempt). The
// web listener's settings are checked beside it.
func acmeChecks() []Check {
	return []Check{{Name: "acme", Run: checkACME}, {Name: "web", Run: checkWeb}}
}

// acmeFailBefore: a certificate this close to its end whose renewal fails
// is a failure, not a warning (senders and clients will refuse it soon).
const acmeFailBefore = 7 * 24 * time.Hour

// hostedDomains lists the hosted domains, and the domain aliases too when
// aliases is set (nil when the directory does not open: directory.open
// reports that).
func hostedDomains(ctx context.Context, env *Env, aliases bool) []string {
	doms, _ := directory.HostedDomains(ctx, env.Cfg, aliases, env.Log)
	return doms
}

func checkACME(ctx context.Context, env *Env) []Finding {
	const name = "acme"
	cfg := env.Cfg
	if !cfg.ACME.Enable {
		return nil
	}
	dir := cfg.ACMEDir()
	var out []Finding
	probe := dir
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		probe = filepath.Dir(dir) // ebb serve makes it at start
	}
	if e := env.Probe.Dir(ctx, probe, cfg.Setting("acme.dir")); e != nil {
		e.Hint = strings.TrimSpace(e.Hint + " (ebb serve keeps the account key and certificates there, as server.user)")
		out = append(out, Failed(name, e))
	}
	states, err := acme.ReadStates(dir)
	if err != nil {
		out = append(out, Failed(name, diag.PathError("ebb doctor", "read", "read the ACME certificates' state", dir, diag.UnwrapPath(err), cfg.Setting("acme.dir"))))
		return out
	}
	sets := append([][]string{acme.ServerNames(cfg)}, acme.DomainNames(cfg, hostedDomains(ctx, env, true))...)
	now := time.Now()
	for _, set := range sets {
		out = append(out, certFinding(env, acme.Store{Dir: dir}, set, states[set[0]], now))
	}
	return out
}

// certFinding is the verdict on one wanted certificate.
func certFinding(env *Env, store acme.Store, names []string, st *acme.State, now time.Time) Finding {
	const name = "acme"
	first := names[0]
	certFile := store.CertFile(first)
	leaf, lerr := acme.ReadLeaf(certFile)
	newErr := func(why error) *diag.Error {
		e := diag.New("acme", "obtain a certificate for "+first+" from", env.Cfg.ACME.DirectoryURL, why)
		e.Setting = env.Cfg.Setting("acme.directory_url")
		return e
	}
	// The CA's words, when the last order failed.
	if st != nil && st.LastError != nil {
		f := st.LastError
		why := f.Message
		if f.Problem != nil {
			why = "the CA said: " + f.Problem.String()
		}
		why = fmt.Sprintf("%d failed orders, the last on %s at %s (%s); next try %s", st.Failures,
			f.Time.Local().Format("2006-01-02 15:04"), f.Stage, why, st.NextAttempt.Local().Format("2006-01-02 15:04"))
		e := newErr(errors.New(why))
		e.Hint = f.Hint
		if lerr != nil || leaf.NotAfter.Sub(now) < acmeFailBefore {
			return Failed(name, e)
		}
		return Warned(name, e)
	}
	switch {
	case errors.Is(lerr, os.ErrNotExist):
		e := newErr(errors.New("no certificate yet: ebb serve orders it at start (STARTTLS offers a provisional self-signed one until then)"))
		e.Path = first
		e.Hint = "start ebb serve (or reload it: kill -HUP) and look again; its log says what the CA answers"
		return Warned(name, e)
	case lerr != nil:
		e := newErr(lerr)
		e.Path = certFile
		e.Hint = "move the certificate's directory away; ebb serve orders a new one at its next start"
		return Failed(name, e)
	case now.After(leaf.NotAfter):
		e := newErr(fmt.Errorf("the certificate expired on %s and was not renewed", leaf.NotAfter.Format(time.DateOnly)))
		e.Path = certFile
		e.Hint = "check that ebb serve runs (it renews 30 days before the end), then its log"
		return Failed(name, e)
	case !sameSet(leaf.DNSNames, names):
		e := newErr(fmt.Errorf("the stored certificate names %s, not %s", strings.Join(leaf.DNSNames, ", "), strings.Join(names, ", ")))
		e.Path = certFile
		e.Hint = "ebb serve orders one for the new names at its next start or reload (kill -HUP)"
		return Warned(name, e)
	}
	if f, bad := keyOwnedByServerUser(env, store.KeyFile(first)); bad {
		return f
	}
	days := int(leaf.NotAfter.Sub(now).Hours() / 24)
	msg := fmt.Sprintf("valid until %s (%d days), issued by %s", leaf.NotAfter.Format(time.DateOnly), days, leaf.Issuer.CommonName)
	if st != nil && !st.RenewAt.IsZero() {
		msg += ", renewal from " + st.RenewAt.Format(time.DateOnly)
	}
	if st != nil && st.Key == "kept" {
		msg += "; key kept at the last renewal: " + st.KeyWhy
	}
	return Passed(name, strings.Join(names, ","), msg)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := map[string]bool{}
	for _, x := range a {
		in[strings.ToLower(x)] = true
	}
	for _, x := range b {
		if !in[strings.ToLower(x)] {
			return false
		}
	}
	return true
}

// keyOwnedByServerUser: a private key is server.user's and nobody else's
// (mode 0600): a key others can read is a key to replace.
func keyOwnedByServerUser(env *Env, path string) (Finding, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return Failed("acme", diag.PathError("ebb doctor", "stat", "check the certificate's private key", path, err, env.Cfg.Setting("acme.dir"))), true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	u := env.Probe.As
	if !ok {
		return Finding{}, false
	}
	if fi.Mode().Perm()&0o077 != 0 || (u != nil && int(st.Uid) != u.UID) {
		e := diag.New("check", "keep the certificate's private key secret", path, fmt.Errorf("mode %04o, owner uid %d", fi.Mode().Perm(), st.Uid))
		e.Found = diag.Describe(path)
		e.Setting = env.Cfg.Setting("acme.dir")
		// A key others could read is compromised: not a chmod, a new key.
		e.Hint = "others may have read it: move the certificate's directory (" + filepath.Dir(path) + ") away and reload ebb serve (kill -HUP): it orders a certificate with a new key"
		return Failed("acme", e), true
	}
	return Finding{}, false
}

// checkWeb: HTTPS needs a certificate, autoconfig needs a submission
// listener to point at.
func checkWeb(ctx context.Context, env *Env) []Finding {
	const name = "web"
	cfg := env.Cfg
	if len(cfg.Web.Listen)+len(cfg.Web.ListenHTTP) == 0 {
		if cfg.Web.MTASTSMode != "off" && cfg.Web.MTASTSMode != "" && cfg.ACME.Enable {
			e := diag.New("config", "serve the MTA-STS policies on", "web.listen", errors.New("no HTTPS listener: senders cannot fetch the policy"))
			e.Setting = cfg.Setting("web.listen")
			e.SetFix(diag.Steps(diag.Set(e.Setting, `[":443"]`), diag.Set(cfg.Setting("web.listen_http"), `[":80"]`), diag.Restart(e.Setting)).
				OrElse(diag.Steps(diag.SetString(cfg.Setting("web.mta_sts_mode"), "off"), diag.Reload(e.Setting))))
			return []Finding{Warned(name, e)}
		}
		return nil
	}
	var out []Finding
	if len(cfg.Web.Listen) > 0 && !cfg.ACME.Enable && cfg.SMTP.TLSCert == "" {
		e := diag.New("config", "serve HTTPS on", cfg.Web.Listen[0], errors.New("no certificate: acme.enable is off and smtp.tls_cert is empty"))
		e.Setting = cfg.Setting("web.listen")
		e.SetFix(diag.Steps(diag.Set(cfg.Setting("acme.enable"), "true"), diag.Restart(e.Setting)))
		out = append(out, Failed(name, e))
	}
	if cfg.Web.Autoconfig && len(cfg.Submission.Listen)+len(cfg.Submission.ListenTLS) == 0 {
		e := diag.New("config", "tell mail clients where to send from", "web.autoconfig", errors.New("no submission listener: the autoconfig has no outgoing server and Thunderbird refuses it"))
		e.Setting = cfg.Setting("web.autoconfig")
		e.SetFix(diag.Steps(diag.Set(cfg.Setting("submission.listen_tls"), `[":465"]`), diag.Restart(e.Setting)).
			OrElse(diag.Steps(diag.Set(e.Setting, "false"), diag.Reload(e.Setting))))
		out = append(out, Warned(name, e))
	}
	if len(out) == 0 {
		out = append(out, Passed(name, strings.Join(append(cfg.Web.Listen, cfg.Web.ListenHTTP...), ","),
			fmt.Sprintf("MTA-STS policy mode %s, autoconfig %v", cfg.Web.MTASTSMode, cfg.Web.Autoconfig)))
	}
	return out
}
