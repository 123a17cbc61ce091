package doctor

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/policy"
)

// submissionChecks are issue 5's: the submission certificate, the trusted
// networks, the sendmail compatibility links and the pickup directory.
func submissionChecks() []Check {
	return []Check{
		{Name: "submission.tls", Run: checkSubmissionCert},
		{Name: "submission.trust", Run: checkTrustedNetworks},
		{Name: "sendmail.links", Run: checkSendmailLinks},
		{Name: "sendmail.pickup", Run: checkPickup},
	}
}

func checkSubmissionCert(ctx context.Context, env *Env) []Finding {
	const name = "submission.tls"
	cfg := env.Cfg.Submission
	if len(cfg.Listen)+len(cfg.ListenTLS) == 0 {
		return []Finding{Passed(name, "submission", "no submission listeners (submission.listen, submission.listen_tls are empty)")}
	}
	if cfg.TLSCert == "" && env.Cfg.SMTP.TLSCert != "" {
		// The smtp.tls check looks at that one; say only that it is used.
		return []Finding{Passed(name, env.Cfg.SMTP.TLSCert, "submission uses smtp.tls_cert (see the smtp.tls check)")}
	}
	if cfg.TLSCert == "" && env.Cfg.SMTP.TLSCert == "" && env.Cfg.ACME.Enable {
		return []Finding{Passed(name, "acme", "submission uses the server's ACME certificate (see the acme check)")}
	}
	if cfg.TLSCert == "" {
		e := diag.New("load", "offer AUTH on", strings.Join(append(append([]string{}, cfg.Listen...), cfg.ListenTLS...), ","), errors.New("no certificate: AUTH is only offered over TLS, so nobody could log in"))
		e.Setting, e.Class = env.Cfg.Setting("submission.tls_cert"), diag.Permanent
		e.Hint = "set submission.tls_cert and submission.tls_key (or smtp.tls_cert and smtp.tls_key)"
		return []Finding{Failed(name, e)}
	}
	return checkCert(env, name, "submission.tls_cert", "submission.tls_key", cfg.TLSCert, cfg.TLSKey)
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func checkTrustedNetworks(ctx context.Context, env *Env) []Finding {
	const name = "submission.trust"
	nets, err := policy.ParseNetworks(env.Cfg.Submission.TrustedNetworks)
	if err != nil {
		e := diag.New("parse", "use the trusted networks", "", err)
		e.Setting, e.Class = env.Cfg.Setting("submission.trusted_networks"), diag.Permanent
		e.Hint = "write networks in CIDR form, e.g. 127.0.0.0/8 or ::1/128"
		return []Finding{Failed(name, e)}
	}
	var out []Finding
	for _, n := range nets {
		inside := false
		for _, l := range loopback {
			if l.Bits() <= n.Bits() && l.Contains(n.Addr()) {
				inside = true
			}
		}
		if inside {
			continue
		}
		e := diag.New("trust", "keep relaying closed with", n.String(), fmt.Errorf("this network is wider than loopback: every client in it (%s) may send mail anywhere without logging in", sizeOf(n)))
		e.Setting = env.Cfg.Setting("submission.trusted_networks")
		e.Hint = "keep submission.trusted_networks to 127.0.0.0/8 and ::1/128, and let other hosts log in (AUTH) on the submission port"
		out = append(out, Warned(name, e))
	}
	if len(out) == 0 {
		out = append(out, Passed(name, strings.Join(env.Cfg.Submission.TrustedNetworks, ","), "only loopback may relay without AUTH"))
	}
	return out
}

func sizeOf(n netip.Prefix) string {
	host := n.Addr().BitLen() - n.Bits()
	if host >= 63 {
		return "an entire IPv6 network"
	}
	return strconv.FormatUint(uint64(1)<<host, 10) + " addresses"
}

// checkSendmailLinks says where /usr/sbin/sendmail and /usr/bin/mailq lead:
// cron, mailx and PHP run them, so their mail goes wherever they point.
func checkSendmailLinks(ctx context.Context, env *Env) []Finding {
	const name = "sendmail.links"
	self, _ := os.Executable()
	var out []Finding
	for _, l := range []struct{ path, as string }{{"/usr/sbin/sendmail", "sendmail"}, {"/usr/bin/mailq", "mailq"}} {
		target, err := filepath.EvalSymlinks(l.path)
		if err != nil {
			e := diag.New("stat", "find", l.path, err)
			e.SetFix(diag.Because("cron, mailx and scripts run "+l.path, diag.Command("ln", "-s", orEbb(self), l.path)))
			out = append(out, Warned(name, e))
			continue
		}
		if isEbb(target, self) {
			msg := "is ebb"
			if target != l.path {
				msg = "leads to ebb (" + target + ")"
			}
			out = append(out, Passed(name, l.path, msg))
			continue
		}
		what := "it leads to " + target + ", which is not ebb"
		if target == l.path {
			what = "it is another program, not ebb (dpkg -S " + l.path + " names its package)"
		}
		e := diag.New("stat", "hand local mail to ebb through", l.path, fmt.Errorf("%s: mail from cron, mailx and scripts goes there", what))
		e.Class = diag.Permanent
		e.SetFix(diag.Because("if the other mail system is gone", diag.Command("ln", "-sf", orEbb(self), l.path)))
		out = append(out, Warned(name, e))
	}
	return out
}

func orEbb(self string) string {
	if self == "" {
		return "/usr/bin/ebb"
	}
	return self
}

// isEbb reports whether path is this binary or another build of ebb.
func isEbb(path, self string) bool {
	if self != "" {
		a, err1 := os.Stat(path)
		b, err2 := os.Stat(self)
		if err1 == nil && err2 == nil && os.SameFile(a, b) {
			return true
		}
	}
	bi, err := buildinfo.ReadFile(path)
	return err == nil && bi.Path == "github.com/ebbmail/ebb/cmd/ebb"
}

// checkPickup looks at the pickup directory ebb sendmail writes into: it
// must be the daemon's, mode 3733 (see internal/pickup).
func checkPickup(ctx context.Context, env *Env) []Finding {
	const name = "sendmail.pickup"
	dir := env.Cfg.PickupDir()
	setting := env.Cfg.PickupDirSetting()
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		e := diag.PathError("ebb doctor", "stat", "use the pickup directory", dir, err, setting)
		e.SetFix(diag.Because("ebb serve creates "+dir+" (owned by server.user, mode 3733); until then ebb sendmail fails with exit 75", diag.Start(setting)))
		return []Finding{Warned(name, e)}
	}
	found := diag.Describe(dir)
	var problems []string
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		problems = append(problems, "it is not a directory")
	}
	if st.Mode&0o7777 != 0o3733 {
		problems = append(problems, fmt.Sprintf("its mode is %04o, not 3733", st.Mode&0o7777))
	}
	if u, err := mailuser.Lookup(env.Cfg); err == nil && u.UID != int(st.Uid) {
		problems = append(problems, "it is not owned by server.user "+env.Cfg.Server.User)
	}
	if len(problems) > 0 {
		e := diag.New("stat", "use the pickup directory", dir, errors.New(strings.Join(problems, "; ")))
		e.Found, e.Setting = found, setting
		// ebb serve sets the owner and mode at each start; a directory
		// the system shares is never given to it (Chown refuses).
		if diag.IsSystemPath(dir) {
			e.SetFix(diag.Chown(dir, setting.MailUser(), setting))
		} else {
			e.SetFix(diag.Because("ebb serve gives it to server.user with mode 3733 at each start", diag.Restart(setting)))
		}
		return []Finding{Failed(name, e)}
	}
	if f := pickup.ClosedParent(dir); f != nil {
		e := diag.New("stat", "let every user reach the pickup directory", dir, syscall.EACCES)
		e.Found, e.Setting = f, setting
		e.SetFix(pickup.ParentFix(f, dir, setting.MailUser(), setting))
		return []Finding{Failed(name, e)}
	}
	sock := pickup.SocketPath(dir, env.Cfg.Sendmail.Socket)
	if e := pickup.SocketTooLong(sock, env.Cfg.PickupSocketSetting()); e != nil {
		e.Component = "ebb doctor"
		return []Finding{Failed(name, e)}
	}
	msg := "owned by " + found.Owner + ", mode 3733"
	if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
		msg += "; the daemon's socket is there"
	} else {
		msg += "; no daemon socket (ebb serve not running): sendmail leaves mail in the directory until it starts"
	}
	waiting, _ := filepath.Glob(filepath.Join(dir, "m.*"))
	bad, _ := filepath.Glob(filepath.Join(dir, "x.*"))
	if len(bad) > 0 {
		e := diag.New("pickup", "pick up", bad[0], fmt.Errorf("%s in %s could not be picked up; ebb serve logged why", diag.Count(len(bad), "message"), dir))
		e.Setting = setting
		e.SetFix(diag.Steps(diag.Say("read the log lines 'pickup: message refused for good', then remove or fix the x.* files in " + dir)))
		return []Finding{Warned(name, e)}
	}
	if len(waiting) > 0 {
		msg += fmt.Sprintf("; %s waiting for pickup", diag.Count(len(waiting), "message"))
	}
	return []Finding{Passed(name, dir, msg)}
}
