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
	d.makeOwnDirs(u)
	if u.UID == 0 {
		d.log.Info("server.user is root: ebb serve keeps running as root", "server_user", d.cfg.Server.User)
	}
	if err := u.Become(); err != nil {
		return nil, err
	}
	return diag.Self(), nil
}

// makeOwnDirs creates the spool, data and mail directories that are
// missing, owned by u, before the privileges are dropped. One it cannot
// create (or give u) is said — what, where, why, the setting — and the
// start goes on: what needs it fails then with its own error, and doctor
// probes it; a directory made by hand in time is used.
func (d *daemon) makeOwnDirs(u *mailuser.User) {
	for _, dir := range []struct {
		path, setting string
		mode          os.FileMode
	}{{d.cfg.Queue.Spool, "queue.spool", 0o700}, {d.cfg.Server.DataDir, "server.data_dir", 0o750}, {d.cfg.Mail.Root, "mail.root", 0o750}} {
		if dir.path == "" {
			continue
		}
		if at, err := u.MkdirAll(dir.path, dir.mode); err != nil {
			e := diag.PathError("ebb serve", "mkdir", "create (for server.user "+u.Name+") the directory", at, err, d.cfg.Setting(dir.setting))
			d.log.Warn("cannot create a directory for server.user before dropping privileges; what needs it will fail",
				"dir", dir.path, "setting", dir.setting, "diag", e)
		}
	}
}
