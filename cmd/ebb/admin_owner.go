package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// The directory administration commands usually run as root (sudo ebb
// domain add), while the daemon runs as server.user. What they create on
// disk — the SQLite directory database, its -wal and -shm files, the data
// directory — must belong to that user, or the daemon fails later on files
// root left behind. So, run as root:
//
//   - before anything is created, they refuse when server.user does not
//     exist (naming the user to create first) or cannot write the data
//     directory that already exists;
//   - afterwards, they give the database files they created or touched to
//     server.user.
//
// PostgreSQL keeps no local state, so nothing is checked for it.

// mailOwner is server.user (and server.group) as numbers.
type mailOwner struct {
	name     string
	uid, gid int
}

func lookupMailOwner(cfg *config.Config) (mailOwner, error) {
	u, err := user.Lookup(cfg.Server.User)
	if err != nil {
		return mailOwner{}, err
	}
	o := mailOwner{name: u.Username}
	o.uid, _ = strconv.Atoi(u.Uid)
	o.gid, _ = strconv.Atoi(u.Gid)
	if cfg.Server.Group != "" {
		g, err := user.LookupGroup(cfg.Server.Group)
		if err != nil {
			return mailOwner{}, err
		}
		o.gid, _ = strconv.Atoi(g.Gid)
	}
	return o, nil
}

// checkStateOwner runs before the directory is opened. It returns a
// *diag.Error when root would create state the daemon cannot use.
func checkStateOwner(cfg *config.Config) *diag.Error {
	if os.Geteuid() != 0 {
		return nil
	}
	path, setting := cfg.SQLiteDirectory()
	if path == "" {
		return nil
	}
	o, err := lookupMailOwner(cfg)
	if err != nil {
		e := diag.New("lookup", "create the directory database for the mail user", path,
			fmt.Errorf("server.user %q (or server.group %q) does not exist, and the daemon, running as that user, could not use files root creates now", cfg.Server.User, cfg.Server.Group))
		e.Setting = cfg.Setting("server.user")
		e.Class, e.Exit = diag.Permanent, diag.ExNoUser
		e.Hint = fmt.Sprintf("create the mail user first: adduser --system --group --no-create-home --home /nonexistent %s (the Debian package does this), or set server.user to the user ebb serve runs as",
			cfg.Server.User)
		return e
	}
	// An existing data directory must be writable by the mail user: SQLite
	// creates -wal and -shm beside the database.
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return nil // missing: directory.Open creates it for the mail user
	}
	sys := st.Sys().(*syscall.Stat_t)
	if writableBy(st.Mode().Perm(), int(sys.Uid), int(sys.Gid), o) {
		return nil
	}
	e := diag.New("access", "keep the directory database in", dir,
		fmt.Errorf("%s (uid %d) cannot write there, and the daemon runs as that user", o.name, o.uid))
	e.Found = diag.Describe(dir)
	e.Setting = setting
	e.Class, e.Exit = diag.Permanent, diag.ExNoPerm
	if sharedSystemDir(dir) {
		e.Hint = fmt.Sprintf("%s is shared by the system: set %s to a directory of ebb's own, such as /var/lib/ebb", dir, setting.Key)
	} else {
		e.Hint = fmt.Sprintf("give the directory to the mail user: chown %s: %s (it is ebb's own)", o.name, dir)
	}
	return e
}

func writableBy(perm os.FileMode, uid, gid int, o mailOwner) bool {
	switch {
	case uid == o.uid:
		return perm&0o300 == 0o300
	case gid == o.gid:
		return perm&0o030 == 0o030
	}
	return perm&0o003 == 0o003
}

// sharedSystemDir reports whether dir belongs to the system rather than to
// ebb: never to be chowned (principle 2).
func sharedSystemDir(dir string) bool {
	switch filepath.Clean(dir) {
	case "/", "/var", "/var/lib", "/var/mail", "/var/spool", "/var/tmp", "/tmp", "/etc", "/usr", "/home", "/srv", "/opt", "/run":
		return true
	}
	return false
}

// giveStateToOwner runs after the directory was opened (and maybe created)
// as root: the database and its -wal/-shm files, if present, go to the
// mail user. Only these files: they are ebb's own by name.
func giveStateToOwner(cfg *config.Config) *diag.Error {
	if os.Geteuid() != 0 {
		return nil
	}
	path, setting := cfg.SQLiteDirectory()
	if path == "" {
		return nil
	}
	o, err := lookupMailOwner(cfg)
	if err != nil {
		return nil // checked before opening
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			sys := st.Sys().(*syscall.Stat_t)
			if int(sys.Uid) == o.uid && int(sys.Gid) == o.gid {
				continue
			}
			err = os.Lchown(p, o.uid, o.gid)
		}
		if err != nil {
			return diag.PathError("", "chown", "give the directory database to "+o.name, p, err, setting)
		}
	}
	return nil
}
