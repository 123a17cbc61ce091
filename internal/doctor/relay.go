package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/dnsresolve"
	"github.com/ebbmail/ebb/internal/mailuser"
	"github.com/ebbmail/ebb/internal/relay"
)

// relayChecks are issue 10's for mail that leaves: the resolver answers,
// the smarthost takes our login, its credentials file is the mail user's
// alone, and whether outbound port 25 is open (a report, never a failure).
func relayChecks() []Check {
	return []Check{
		{Name: "relay.dns", Run: checkRelayDNS},
		{Name: "relay.credentials", Run: checkRelayCredentials},
		{Name: "relay.smarthost", Run: checkSmarthost},
		{Name: "relay.port25", Run: checkPort25},
	}
}

// checkRelayDNS asks the resolver for the MX of our own domain: any
// answer (also "no such name") shows that it answers.
func checkRelayDNS(ctx context.Context, env *Env) []Finding {
	const name = "relay.dns"
	cfg := env.Cfg
	res := dnsresolve.New(cfg)
	q := cfg.Server.Hostname
	if i := strings.IndexByte(q, '.'); i > 0 && strings.Contains(q[i+1:], ".") {
		q = q[i+1:]
	}
	if q == "" {
		q = "localhost"
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.DNS.Timeout.Duration+time.Second)
	defer cancel()
	_, err := res.LookupMX(ctx, q)
	where := cfg.DNS.Resolver
	if where == "" {
		where = "the system's resolver (/etc/resolv.conf)"
	}
	if err != nil && dnsresolve.IsTemporary(err) {
		e := diag.New("lookup", "look up the MX of", q, err)
		e.Setting, e.Class = cfg.Setting("dns.resolver"), diag.Temporary
		e.Hint = "outbound mail needs a working resolver: start one (e.g. unbound on 127.0.0.1:53) and set dns.resolver, or fix /etc/resolv.conf"
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, where, fmt.Sprintf("answers (MX of %s)", q))}
}

// checkRelayCredentials: the smarthost login file is a regular file that
// server.user owns and nobody else can read.
func checkRelayCredentials(ctx context.Context, env *Env) []Finding {
	const name = "relay.credentials"
	cfg := env.Cfg
	path := cfg.Relay.Credentials
	if path == "" {
		return []Finding{Passed(name, "relay.credentials", "not set: no AUTH toward a smarthost")}
	}
	setting := cfg.Setting("relay.credentials")
	st, err := os.Stat(path)
	if err != nil {
		e := diag.PathError("ebb doctor", "stat", "read the smarthost credentials", path, err, setting)
		e.Class = diag.Permanent
		e.SetFix(diag.Steps(diag.Say("write the login as one line user:password into " + path + ", owned by server.user, mode 0600")))
		return []Finding{Failed(name, e)}
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	var wantUID = -1
	if u, err := mailuser.Lookup(cfg); err == nil {
		wantUID = u.UID
	}
	var probs []string
	if st.Mode().Perm()&0o077 != 0 {
		probs = append(probs, fmt.Sprintf("other users can read it (mode %04o)", st.Mode().Perm()))
	}
	if sys != nil && wantUID >= 0 && int(sys.Uid) != wantUID {
		probs = append(probs, fmt.Sprintf("it belongs to %s, not to server.user %s", nameOf(int(sys.Uid)), cfg.Server.User))
	} else if st.Mode().Perm()&0o400 == 0 {
		probs = append(probs, "its owner cannot read it")
	}
	if len(probs) > 0 {
		e := diag.PathError("ebb doctor", "stat", "use the smarthost credentials", path, errors.New(strings.Join(probs, "; ")), setting)
		e.Class = diag.Permanent
		// A password: it goes to the mail user alone (Chown closes it to
		// others), the file relay.credentials names and nothing else.
		u := setting.MailUser()
		e.SetFix(diag.Steps(diag.Command("chown", u.User+":"+u.Group, path), diag.Command("chmod", "0600", path)))
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, path, fmt.Sprintf("readable by %s only (mode %04o)", cfg.Server.User, st.Mode().Perm()))}
}

func nameOf(uid int) string {
	if n := diag.UserName(uid); n != "" {
		return n
	}
	return strconv.Itoa(uid)
}

// checkSmarthost opens a session to relay.smarthost as a delivery would:
// TLS by relay.tls, AUTH with relay.credentials, then QUIT.
func checkSmarthost(ctx context.Context, env *Env) []Finding {
	const name = "relay.smarthost"
	cfg := env.Cfg
	if cfg.Relay.Smarthost == "" {
		return []Finding{Passed(name, "relay.smarthost", "not set: mail goes to each domain's MX hosts")}
	}
	r, err := relay.New(cfg, relay.Options{Resolver: dnsresolve.New(cfg), Hostname: cfg.Server.Hostname})
	if err != nil {
		return []Finding{Failed(name, diag.From(err, "ebb doctor", "relay"))}
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Relay.ConnTimeout.Duration+cfg.Relay.GreetTimeout.Duration)
	defer cancel()
	what, err := r.ProbeSmarthost(ctx)
	if err != nil {
		return []Finding{Failed(name, diag.From(err, "ebb doctor", "connect"))}
	}
	return []Finding{Passed(name, cfg.Relay.Smarthost, what)}
}

// checkPort25 tries relay.port25_probe: a report, not a failure, since
// many networks block outbound port 25 and a smarthost is the way out.
func checkPort25(ctx context.Context, env *Env) []Finding {
	const name = "relay.port25"
	cfg := env.Cfg
	target := cfg.Relay.Port25Probe
	if target == "" {
		return []Finding{Passed(name, "relay.port25_probe", "not checked (set relay.port25_probe to a host:25 to learn whether outbound port 25 is open)")}
	}
	d := net.Dialer{Timeout: cfg.Relay.ConnTimeout.Duration}
	ctx, cancel := context.WithTimeout(ctx, cfg.Relay.ConnTimeout.Duration+5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", target)
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, rerr := c.Read(buf)
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if rerr == nil && strings.HasPrefix(line, "220") {
			return []Finding{Passed(name, target, "outbound connections to port 25 work (greeting: "+line+")")}
		}
		err = fmt.Errorf("connected, but no SMTP greeting came (%q)", line)
	}
	e := diag.New("connect", "connect to", target, err)
	e.Setting, e.Class = cfg.Setting("relay.port25_probe"), diag.Temporary
	e.Hint = "many providers block outbound port 25: if yours does, deliver through your provider's submission server (relay.smarthost = \"smtp.provider.example:587\" with relay.credentials)"
	if cfg.Relay.Smarthost != "" {
		e.Hint = "mail goes through relay.smarthost, so a blocked port 25 does not matter here"
	}
	return []Finding{Warned(name, e)}
}
