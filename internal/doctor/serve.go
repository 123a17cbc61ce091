package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/queue"
)

// serveChecks are issue 4's: what ebb serve needs before it can take mail.
func serveChecks() []Check {
	return []Check{
		{Name: "queue.spool", Run: checkSpool},
		{Name: "smtp.listen", Run: checkListen},
		{Name: "smtp.tls", Run: checkSMTPCert},
	}
}

// checkSpool probes the spool as server.user: create, write, fsync, rename
// and remove a file, as the queue does for every message.
func checkSpool(ctx context.Context, env *Env) []Finding {
	const name = "queue.spool"
	spool := env.Cfg.Queue.Spool
	setting := env.Cfg.Setting("queue.spool")
	if _, err := os.Stat(spool); errors.Is(err, os.ErrNotExist) {
		// ebb serve started as root creates it, owned by server.user.
		parent := filepath.Dir(spool)
		if os.Geteuid() == 0 {
			return []Finding{Passed(name, spool, "does not exist yet: ebb serve (started as root) creates it, mode 0700, owned by "+env.Cfg.Server.User)}
		}
		if e := env.Probe.Dir(ctx, parent, setting); e != nil {
			e.Hint = "create " + spool + " owned by " + env.Cfg.Server.User + " (mode 0700), or start ebb serve as root, which creates it"
			return []Finding{Failed(name, e)}
		}
		return []Finding{Passed(name, spool, "does not exist yet; ebb serve creates it in "+parent)}
	}
	dir := spool
	if _, err := os.Stat(filepath.Join(spool, queue.QueueDir)); err == nil {
		dir = filepath.Join(spool, queue.QueueDir)
	}
	if e := env.Probe.Dir(ctx, dir, setting); e != nil {
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, dir, "writable and fsyncable by "+env.Probe.Who())}
}

// checkListen binds every SMTP and metrics address for a moment. An address
// in use by the running ebb serve (it holds the spool lock) is fine.
func checkListen(ctx context.Context, env *Env) []Finding {
	const name = "smtp.listen"
	type addr struct{ key, addr string }
	var addrs []addr
	for _, a := range env.Cfg.SMTP.Listen {
		addrs = append(addrs, addr{"smtp.listen", a})
	}
	for _, a := range env.Cfg.Submission.Listen {
		addrs = append(addrs, addr{"submission.listen", a})
	}
	for _, a := range env.Cfg.Submission.ListenTLS {
		addrs = append(addrs, addr{"submission.listen_tls", a})
	}
	if env.Cfg.Metrics.Listen != "" {
		addrs = append(addrs, addr{"metrics.listen", env.Cfg.Metrics.Listen})
	}
	if len(addrs) == 0 {
		return []Finding{Passed(name, "", "no listen addresses configured")}
	}
	running := queue.LockHolder(env.Cfg.Queue.Spool)
	var out []Finding
	for _, a := range addrs {
		l, err := net.Listen("tcp", a.addr)
		if err == nil {
			l.Close()
			msg := "bindable"
			if a.key == "metrics.listen" && !isLoopback(a.addr) {
				e := diag.New("listen", "serve metrics on", a.addr, errors.New("the address is not loopback: anyone who reaches it reads the queue's state"))
				e.Setting, e.Class, e.Hint = env.Cfg.Setting(a.key), diag.Temporary, "keep metrics.listen on 127.0.0.1 or ::1 and scrape through a tunnel or a proxy"
				out = append(out, Warned(name, e))
				continue
			}
			out = append(out, Passed(name, a.addr, msg+" ("+a.key+")"))
			continue
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE) && running != "":
			out = append(out, Passed(name, a.addr, "in use by the running ebb serve, "+running+" ("+a.key+")"))
		case errors.Is(err, syscall.EACCES) && os.Geteuid() != 0:
			e := diag.New("listen", "listen on", a.addr, err)
			e.Setting, e.Class = env.Cfg.Setting(a.key), diag.Temporary
			e.Who = diag.Self()
			e.Hint = "ports below 1024 need root: ebb serve must be started as root (it drops to server.user after binding); run ebb doctor as root to check"
			out = append(out, Warned(name, e))
		default:
			e := diag.New("listen", "listen on", a.addr, err)
			e.Setting, e.Class = env.Cfg.Setting(a.key), diag.Temporary
			switch {
			case errors.Is(err, syscall.EADDRINUSE):
				e.Hint = fmt.Sprintf("another program listens there (ss -ltnp 'sport = :%s'); stop it or change %s", portOf(a.addr), a.key)
			case errors.Is(err, syscall.EADDRNOTAVAIL):
				e.Hint = "no interface of this host has that address; fix " + a.key
			}
			out = append(out, Failed(name, e))
		}
	}
	return out
}

// certWarnBefore is how close to expiry a certificate makes doctor warn.
const certWarnBefore = 14 * 24 * time.Hour

// checkSMTPCert checks the STARTTLS certificate of port 25: readable (as
// the user that starts ebb serve, and by server.user for a SIGHUP reload),
// a valid pair, in its validity period, not near its end, and naming
// server.hostname.
func checkSMTPCert(ctx context.Context, env *Env) []Finding {
	const name = "smtp.tls"
	certFile, keyFile := env.Cfg.SMTP.TLSCert, env.Cfg.SMTP.TLSKey
	if certFile == "" {
		return []Finding{Passed(name, "", "no certificate: STARTTLS is not offered on port 25 (set smtp.tls_cert and smtp.tls_key to offer it)")}
	}
	setting := env.Cfg.Setting("smtp.tls_cert")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		var pe *os.PathError
		var e *diag.Error
		if errors.As(err, &pe) {
			key := "smtp.tls_cert"
			if pe.Path == keyFile {
				key = "smtp.tls_key"
			}
			e = diag.PathError("ebb doctor", "open", "read the TLS certificate or key", pe.Path, err, env.Cfg.Setting(key))
		} else {
			e = diag.New("load", "load the TLS certificate", certFile, err)
			e.Setting = setting
			e.Hint = "smtp.tls_cert must be a PEM certificate chain and smtp.tls_key its private key"
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
		e.Setting, e.Hint = setting, "renew it, then reload: kill -HUP the ebb serve process"
		return []Finding{Failed(name, e)}
	case leaf.NotAfter.Sub(now) < certWarnBefore:
		e := diag.New("verify", "use the TLS certificate", certFile, fmt.Errorf("it expires on %s, in %d days", leaf.NotAfter.Format(time.DateOnly), int(leaf.NotAfter.Sub(now).Hours()/24)))
		e.Setting, e.Hint = setting, "renew it, then reload: kill -HUP the ebb serve process"
		out = append(out, Warned(name, e))
	}
	host := env.Cfg.Server.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if host != "" && leaf.VerifyHostname(host) != nil {
		names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
		e := diag.New("verify", "use the TLS certificate", certFile, fmt.Errorf("it names %s, not %s (server.hostname)", strings.Join(names, ", "), host))
		e.Setting, e.Hint = setting, "use a certificate for "+host+", or set server.hostname to the name the MX record points at"
		out = append(out, Warned(name, e))
	}
	// ebb serve reads the key as root before it drops privileges; a
	// SIGHUP reload reads it again as server.user.
	if u, err := user.Lookup(env.Cfg.Server.User); err == nil && os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if !readableBy(keyFile, uid, gid) {
			e := diag.PathError("ebb doctor", "open", "read the TLS key as server.user", keyFile, os.ErrPermission, env.Cfg.Setting("smtp.tls_key"))
			e.Who = &diag.Identity{UID: uid, User: u.Username, GID: gid}
			e.Hint = "ebb serve loads it at start as root, but a reload (SIGHUP) runs as " + u.Username + ": chgrp " + groupName(gid) + " " + keyFile + " && chmod 0640 " + keyFile
			out = append(out, Warned(name, e))
		}
	}
	if len(out) == 0 {
		out = append(out, Passed(name, certFile, fmt.Sprintf("valid for %s until %s", host, leaf.NotAfter.Format(time.DateOnly))))
	}
	return out
}

// readableBy reports whether uid/gid may read path by its mode bits.
func readableBy(path string, uid, gid int) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return false
	}
	switch {
	case int(st.Uid) == uid:
		return st.Mode&0o400 != 0
	case int(st.Gid) == gid:
		return st.Mode&0o040 != 0
	}
	return st.Mode&0o004 != 0
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}
