package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

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
			e.SetFix(diag.MakeDirMode(spool, "0700", setting.MailUser(), setting).
				OrElse(diag.Because("ebb serve started as root creates it", diag.Start(setting))))
			return []Finding{Failed(name, e)}
		}
		return []Finding{Passed(name, spool, "does not exist yet; ebb serve creates it in "+parent)}
	}
	// The spool itself holds the lock and the control socket, made again
	// at every start (ebb queue flush, hold … reach the daemon through
	// it); the messages are in its queue directory.
	dirs := []string{spool}
	if _, err := os.Stat(filepath.Join(spool, queue.QueueDir)); err == nil {
		dirs = append(dirs, filepath.Join(spool, queue.QueueDir))
	}
	reqs := make([]ProbeRequest, len(dirs))
	for i, d := range dirs {
		reqs[i] = ProbeRequest{Dir: d, Setting: setting}
	}
	for i, e := range env.Probe.Dirs(ctx, reqs) {
		if e != nil {
			if dirs[i] == spool {
				e.Reason += " (ebb serve makes its lock and control socket here at each start)"
			}
			return []Finding{Failed(name, e)}
		}
	}
	dir := dirs[len(dirs)-1]
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
		case errors.Is(err, syscall.EADDRINUSE) && spoolClosed(env.Cfg.Queue.Spool):
			// Only root (or server.user) can read the spool's lock and
			// tell whether the holder is the running ebb serve: never
			// "stop it" to someone who cannot know it is ebb itself.
			e := diag.New("listen", "listen on", a.addr, err)
			e.Setting, e.Class = env.Cfg.Setting(a.key), diag.Temporary
			e.Who = diag.Self()
			e.Hint = fmt.Sprintf("something listens there, perhaps the running ebb serve, which only root can tell (the spool %s is closed to %s): run ebb doctor as root to check", env.Cfg.Queue.Spool, e.Who)
			out = append(out, Warned(name, e))
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

// checkSMTPCert checks the STARTTLS certificate of port 25 (checkCert).
func checkSMTPCert(ctx context.Context, env *Env) []Finding {
	const name = "smtp.tls"
	if env.Cfg.SMTP.TLSCert == "" && env.Cfg.ACME.Enable {
		return []Finding{Passed(name, "acme", "STARTTLS uses the server's ACME certificate (see the acme check)")}
	}
	if env.Cfg.SMTP.TLSCert == "" {
		return []Finding{Passed(name, "", "no certificate: STARTTLS is not offered on port 25 (set smtp.tls_cert and smtp.tls_key to offer it)")}
	}
	return checkCert(env, name, "smtp.tls_cert", "smtp.tls_key", env.Cfg.SMTP.TLSCert, env.Cfg.SMTP.TLSKey)
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

// spoolClosed reports whether this process may not read the spool's lock
// (an ordinary user running doctor), so cannot tell who holds it.
func spoolClosed(spool string) bool {
	f, err := os.Open(filepath.Join(spool, queue.LockFile))
	if err == nil {
		f.Close()
		return false
	}
	return errors.Is(err, os.ErrPermission)
}
