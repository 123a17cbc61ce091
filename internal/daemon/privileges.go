package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
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
	uid, gid, err := lookupUser(d.cfg)
	if err != nil {
		return nil, err
	}
	for _, dir := range []struct {
		path string
		mode os.FileMode
	}{{d.cfg.Queue.Spool, 0o700}, {d.cfg.Server.DataDir, 0o750}, {d.cfg.Mail.Root, 0o750}} {
		if dir.path == "" {
			continue
		}
		if _, err := os.Stat(dir.path); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir.path, dir.mode); err == nil {
				os.Chown(dir.path, uid, gid)
			}
		}
	}
	if uid == 0 {
		d.log.Info("server.user is root: ebb serve keeps running as root", "server_user", d.cfg.Server.User)
		return diag.Self(), nil
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return nil, fmt.Errorf("setgroups(%d): %w", gid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return nil, fmt.Errorf("setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return nil, fmt.Errorf("setuid(%d): %w", uid, err)
	}
	return diag.Self(), nil
}

func lookupUser(cfg *config.Config) (uid, gid int, err error) {
	name := cfg.Server.User
	u, err := user.Lookup(name)
	if err != nil {
		de := diag.New("lookup", "find the user", name, err)
		de.Setting, de.Class, de.Exit = cfg.Setting("server.user"), diag.Permanent, diag.ExNoUser
		de.Hint = "create it (useradd --system --user-group --home-dir /var/lib/ebb --shell /usr/sbin/nologin " + name + ") or set server.user"
		return 0, 0, de
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if g := cfg.Server.Group; g != "" {
		grp, err := user.LookupGroup(g)
		if err != nil {
			de := diag.New("lookup", "find the group", g, err)
			de.Setting, de.Class, de.Exit = cfg.Setting("server.group"), diag.Permanent, diag.ExNoUser
			return 0, 0, de
		}
		gid, _ = strconv.Atoi(grp.Gid)
	}
	return uid, gid, nil
}
