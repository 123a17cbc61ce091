package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/directory"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/msgauth"
	"github.com/ebbmail/ebb/internal/spf"
)

// dkimChecks: for each domain with a DKIM key, the key is readable by the
// mail user and its published TXT record matches (via the configured
// resolver); for each hosted domain, whether SPF lists this host and a
// DMARC record exists (reported, not failed: they are the DNS owner's
// choice, but mail is junked without them).
func dkimChecks() []Check {
	return []Check{
		{Name: "dkim.keys", Run: checkDKIMKeys},
		{Name: "auth.dns", Run: checkAuthDNS},
	}
}

func checkDKIMKeys(ctx context.Context, env *Env) []Finding {
	const name = "dkim.keys"
	cfg := env.Cfg
	dir := cfg.DKIMKeyDir()
	checks, err := msgauth.CheckKeys(ctx, dir, cfg.DKIMKeyDirSetting(), dnsresolve.New(cfg), cfg.DNS.Timeout.Duration)
	if d, ok := diag.As(err); ok {
		d.Component = "ebb doctor"
		return []Finding{Failed(name, d)}
	}
	if len(checks) == 0 {
		if !cfg.DKIM.Sign {
			return nil
		}
		e := diag.New("lookup", "sign outbound mail with keys from", dir, errors.New("no DKIM keys: mail leaves unsigned, and receivers junk or refuse unsigned mail of domains with DMARC"))
		e.Setting = cfg.DKIMKeyDirSetting()
		e.Hint = "make a key for each hosted domain: ebb dkim keygen DOMAIN, and publish the TXT record it prints"
		return []Finding{Warned(name, e)}
	}
	var out []Finding
	for _, c := range checks {
		if c.LoadErr != nil {
			c.LoadErr.Component = "ebb doctor"
			out = append(out, Failed(name, c.LoadErr))
			continue
		}
		k := c.Key
		if f, bad := keyReadable(env, k); bad {
			out = append(out, f)
			continue
		}
		switch {
		case c.DNSErr != nil:
			e := diag.New("lookup", "look up the DKIM record", k.RecordName(), c.DNSErr)
			e.Setting = cfg.Setting("dns.resolver")
			e.Hint = "check that dns.resolver answers; then: ebb dkim list"
			out = append(out, Warned(name, e))
		case c.Why != "":
			e := diag.New("lookup", "match the published DKIM record", k.RecordName(), errors.New(c.Why))
			e.Path = k.RecordName()
			e.Hint = "publish: " + k.ZoneLine()
			if k.Pending {
				// Not signing yet: publishing it is the next step.
				out = append(out, Warned(name, e))
			} else {
				e.Hint += " (until then, signatures with selector " + k.Selector + " fail at every receiver)"
				out = append(out, Failed(name, e))
			}
		default:
			out = append(out, Passed(name, k.RecordName(), fmt.Sprintf("%s key (%s) matches the published record", k.Algorithm, k.State())))
		}
	}
	return out
}

// keyReadable: the daemon, as server.user, must read the key.
func keyReadable(env *Env, k *msgauth.Key) (Finding, bool) {
	u := env.Probe.As
	if u == nil {
		return Finding{}, false
	}
	st, err := os.Stat(k.Path)
	if err != nil {
		return Finding{}, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return Finding{}, false
	}
	m := st.Mode().Perm()
	readable := (int(sys.Uid) == u.UID && m&0o400 != 0) || (int(sys.Gid) == u.GID && m&0o040 != 0) || m&0o004 != 0
	if readable {
		return Finding{}, false
	}
	e := diag.New("open", "read the DKIM key", k.Path, syscall.EACCES)
	e.Found = diag.Describe(k.Path)
	e.Who = &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID}
	e.Setting = env.Cfg.DKIMKeyDirSetting()
	// A key is a secret of ebb's own: it goes to the mail user alone, as
	// ebb dkim keygen run as root writes it (Chown closes it to others).
	e.SetFix(diag.Chown(k.Path, &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID, Group: diag.GroupName(u.GID)}, e.Setting))
	return Failed("dkim.keys", e), true
}

// checkAuthDNS reports SPF and DMARC of each hosted domain.
func checkAuthDNS(ctx context.Context, env *Env) []Finding {
	cfg := env.Cfg
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := directory.OpenWith(octx, cfg, directory.Options{ReadOnly: true, NoMigrate: true, Logger: env.Log})
	if err != nil {
		return nil // directory.open reports it
	}
	doms, err := d.Domains(octx)
	d.Close()
	if err != nil {
		return nil
	}
	res := dnsresolve.New(cfg)
	host := cfg.Relay.HeloName
	if host == "" {
		host = cfg.Server.Hostname
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	lctx, lcancel := context.WithTimeout(ctx, cfg.DNS.Timeout.Duration)
	addrs, aerr := res.LookupIPAddr(lctx, host)
	lcancel()
	var out []Finding
	for _, dom := range doms {
		if dom.AliasOf != "" {
			continue
		}
		// SPF as the daemon's check evaluates it (the same client).
		out = append(out, spfFinding(ctx, env, dnsresolve.NewClient(cfg), dom.Name, host, addrs, aerr))
		out = append(out, dmarcFinding(ctx, env, res, dom.Name))
	}
	return out
}

func spfFinding(ctx context.Context, env *Env, res spf.Resolver, domain, host string, addrs []net.IPAddr, aerr error) Finding {
	const name = "auth.dns"
	warn := func(err error, hint string) Finding {
		e := diag.New("lookup", "find this host in the SPF record of", domain, err)
		e.Hint = hint
		return Warned(name, e)
	}
	if aerr != nil || len(addrs) == 0 {
		return warn(fmt.Errorf("this host's name %s has no address to check against SPF: %v", host, aerr),
			"give "+host+" an A/AAAA record (relay.helo_name or server.hostname), the name receivers check")
	}
	var missing []string
	for _, a := range addrs {
		cctx, cancel := context.WithTimeout(ctx, 2*env.Cfg.DNS.Timeout.Duration)
		ip, _ := netip.AddrFromSlice(a.IP)
		o := (&spf.Checker{Resolver: res}).CheckHost(cctx, ip.Unmap(), domain, "postmaster@"+domain, host)
		cancel()
		switch r := o.Result; r {
		case spf.Pass:
		case spf.None:
			return warn(errors.New("the domain publishes no SPF record"),
				fmt.Sprintf("publish: %s. TXT \"v=spf1 mx ip4:%s -all\" (with your own addresses)", domain, addrs[0].IP))
		case spf.TempError:
			// No answer from DNS: the record may well list this host, and
			// adding it would change nothing.
			e := diag.New("lookup", "find this host in the SPF record of", domain, fmt.Errorf("%s", o.Reason))
			e.Setting = env.Cfg.Setting("dns.resolver")
			e.Hint = "the SPF record could not be read: the checks need a working resolver: start one (e.g. unbound on 127.0.0.1:53) and set dns.resolver, or fix /etc/resolv.conf"
			return Warned(name, e)
		default:
			why := string(r)
			if o.Reason != "" {
				why += ": " + o.Reason
			}
			missing = append(missing, fmt.Sprintf("%s (%s)", a.IP, why))
		}
	}
	if len(missing) > 0 {
		return warn(fmt.Errorf("SPF does not pass for this host's addresses %s", strings.Join(missing, ", ")),
			"add them to the SPF record of "+domain+" (ip4:/ip6:, or mx when "+host+" is its MX)")
	}
	return Passed(name, domain, "SPF passes for "+host)
}

func dmarcFinding(ctx context.Context, env *Env, res *net.Resolver, domain string) Finding {
	const name = "auth.dns"
	for _, d := range []string{domain, msgauth.OrgDomain(domain)} {
		lctx, cancel := context.WithTimeout(ctx, env.Cfg.DNS.Timeout.Duration)
		txts, err := res.LookupTXT(lctx, "_dmarc."+d)
		cancel()
		if err != nil && !dnsresolve.IsNotFound(err) {
			e := diag.New("lookup", "look up the DMARC record", "_dmarc."+d, err)
			e.Setting = env.Cfg.Setting("dns.resolver")
			return Warned(name, e)
		}
		for _, t := range txts {
			if strings.HasPrefix(t, "v=DMARC1") {
				return Passed(name, "_dmarc."+d, t)
			}
		}
		if d == msgauth.OrgDomain(domain) {
			break
		}
	}
	e := diag.New("lookup", "find the DMARC record of", domain, errors.New("no DMARC record: receivers cannot tell your mail from forgeries"))
	e.Hint = fmt.Sprintf("publish, once mail is signed and SPF passes: _dmarc.%s. TXT \"v=DMARC1; p=none; rua=mailto:postmaster@%s\", then move to p=quarantine or p=reject", domain, domain)
	return Warned(name, e)
}
