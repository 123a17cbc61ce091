package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/msgauth"
)

// srsChecks: with srs.enable, the secret file is readable by server.user
// and by nobody else, and holds a secret; when it is missing, its directory
// lets server.user create it (ebb serve does at start). srs.domain is a
// domain of its own, not in a hosted domain's organizational domain.
func srsChecks() []Check {
	return []Check{{Name: "srs.secret", Run: checkSRSSecret}, {Name: "srs.domain", Run: checkSRSDomain}}
}

// checkSRSDomain warns when srs.domain (server.hostname when empty) shares
// an organizational domain with a hosted domain: an SRS sender there
// passes SPF and aligns (DMARC, relaxed) with a From: of that hosted
// domain at the next hop. ebb serve then does not rewrite a forward of
// mail from outside that names such a From: (docs/srs.md): it leaves with
// its own sender and may fail SPF where that sender's domain publishes it.
func checkSRSDomain(ctx context.Context, env *Env) []Finding {
	const name = "srs.domain"
	cfg := env.Cfg
	if !cfg.SRS.Enable {
		return nil
	}
	domain, setting := cfg.SRS.Domain, cfg.Setting("srs.domain")
	if domain == "" {
		domain = cfg.Server.Hostname
	}
	org := msgauth.OrgDomain(domain)
	var shared []string
	for _, d := range hostedDomains(ctx, env, true) {
		if msgauth.OrgDomain(d) == org {
			shared = append(shared, d)
		}
	}
	if len(shared) == 0 {
		return []Finding{Passed(name, domain, "not in the organizational domain of a hosted domain")}
	}
	e := diag.New("srs", "rewrite forwarded senders into", domain,
		fmt.Errorf("it is in the organizational domain %s of the hosted %s %s: an SRS sender there would align with a forged From: of it at the next hop (DMARC), so forwards of such mail from outside are not rewritten",
			org, diag.Plural(len(shared), "domain"), strings.Join(shared, ", ")))
	e.Setting = setting
	e.SetFix(diag.Because("an SRS domain of its own lends no hosted domain our SPF",
		diag.Say("set srs.domain to a domain outside "+org+" (and outside every hosted domain's organizational domain) whose MX is this host and which publishes SPF for it, e.g. a domain registered for forwarding"),
		diag.Restart(setting)))
	return []Finding{Warned(name, e)}
}

func checkSRSSecret(ctx context.Context, env *Env) []Finding {
	const name = "srs.secret"
	cfg := env.Cfg
	if !cfg.SRS.Enable {
		return nil
	}
	path := strings.ReplaceAll(cfg.SRS.SecretFile, "{data_dir}", cfg.Server.DataDir)
	setting := cfg.Setting("srs.secret_file")
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(path)
		if e := env.Probe.Dir(ctx, dir, setting); e != nil {
			e.Doing = "create the SRS secret in"
			return []Finding{Failed(name, e)}
		}
		return []Finding{Passed(name, path, "missing; ebb serve creates it with a random secret ("+dir+" is writable by "+env.Probe.Who()+")")}
	}
	if err != nil {
		return []Finding{Failed(name, diag.PathError("ebb doctor", "stat", "read the SRS secret", path, err, setting))}
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		e := diag.New("open", "use the SRS secret", path, fmt.Errorf("the file is mode %04o: others can read the secret, and ebb serve refuses to start with it", m))
		e.Found, e.Setting = diag.Describe(path), setting
		e.SetFix(diag.Steps(diag.Command("chmod", "0600", path)))
		return []Finding{Failed(name, e)}
	}
	if u := env.Probe.As; u != nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != u.UID {
			e := diag.New("open", "read the SRS secret", path, syscall.EACCES)
			e.Found, e.Setting = diag.Describe(path), setting
			e.Who = &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID}
			// ebb's own secret, given to the mail user alone (mode 0600);
			// a new secret would refuse bounces signed with this one.
			e.SetFix(diag.Steps(diag.Command("chown", u.Name+":"+diag.GroupName(u.GID), path), diag.Command("chmod", "0600", path)))
			return []Finding{Failed(name, e)}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return []Finding{Failed(name, diag.PathError("ebb doctor", "open", "read the SRS secret", path, err, setting))}
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	if n == 0 {
		e := diag.New("read", "use the SRS secret", path, errors.New("the file holds no secret"))
		e.Setting = setting
		e.SetFix(diag.Because("ebb serve writes a random secret there when there is no file", diag.Command("rm", path), diag.Restart(setting)))
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, path, fmt.Sprintf("%s, readable by its owner only", diag.Count(n, "secret")))}
}
