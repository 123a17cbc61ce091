package daemon

import (
	"os"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// dropPrivileges makes a root-started daemon run as server.user (and
// server.group) once its sockets are bound. First it creates the spool,
// data and mail directories that are missing, owned by that user, since
// the user cannot create them under root-owned parents. Go applies
// setuid/setgid to every thread (Go ≥ 1.16 on Linux).
func (d *daemon) dropPrivileges() (*diag.Identity, error) {
	if os.Geteuid() != 0 {
		who := diag.Self()
		if d.cfg.Server.User != "" && who.User != "" && who.User != d.cfg.Server.User {
			d.log.Info("not started as root: running as the invoking user, not server.user",
				"user", who.User, "server_user", d.cfg.Server.User)
		}
		return who, nil
	}
	u, err := mailuser.Lookup(d.cfg)
	if err != nil {
		return nil, err
	}
	for _, dir := range []struct {
		path string
		mode os.FileMode
	}{{d.cfg.Queue.Spool, 0o700}, {d.cfg.Server.DataDir, 0o750}, {d.cfg.Mail.Root, 0o750}} {
		if dir.path != "" {
			u.MkdirAll(dir.path, dir.mode)
		}
	}
	if u.UID == 0 {
		d.log.Info("server.user is root: ebb serve keeps running as root", "server_user", d.cfg.Server.User)
	}
	if err := u.Become(); err != nil {
		return nil, err
	}
	return diag.Self(), nil
}
