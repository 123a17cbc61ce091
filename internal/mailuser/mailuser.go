// Package mailuser is the mail user: server.user (and server.group), the
// account ebb serve runs as, ebb deliver switches to, and doctor probes as,
// and the owner of ebb's own files (the spool, the data directory and the
// directory database, DKIM keys, Maildirs). It is the one place that looks
// that account up, and the one way ebb, run as root, creates files for it,
// gives them to it, and becomes it.
//
//	u, err := mailuser.Lookup(cfg) // *diag.Error naming server.user when missing
//	u.MkdirAll(dir, 0o750)         // new directories belong to u
//	u.Give(db, db+"-wal")          // so do files root made (missing ones skipped)
//
// A nil *User stands for "whoever runs this": its methods create files
// without giving them away (see ForRoot).
package mailuser

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// User is the mail user as numbers.
type User struct {
	Name string // server.user
	UID  int
	// GID is server.group's when it is set, else the user's primary group.
	GID int
}

// Lookup finds server.user and server.group. When either does not exist
// the error is a permanent *diag.Error (exit 67) naming the setting, with
// the command that creates the account.
func Lookup(cfg *config.Config) (*User, error) {
	name := cfg.Server.User
	pw, err := user.Lookup(name)
	if err != nil {
		e := diag.New("lookup", "find the mail user", name, fmt.Errorf("server.user %q does not exist: %w", name, err))
		e.Setting, e.Class, e.Exit = cfg.Setting("server.user"), diag.Permanent, diag.ExNoUser
		e.SetFix(diag.AddUser(name).OrElse(diag.Steps(diag.Say("set server.user to the user ebb serve runs as"))))
		return nil, e
	}
	u := &User{Name: pw.Username}
	u.UID, _ = strconv.Atoi(pw.Uid)
	u.GID, _ = strconv.Atoi(pw.Gid)
	if g := cfg.Server.Group; g != "" {
		grp, err := user.LookupGroup(g)
		if err != nil {
			e := diag.New("lookup", "find the mail user's group", g, fmt.Errorf("server.group %q does not exist: %w", g, err))
			e.Setting, e.Class, e.Exit = cfg.Setting("server.group"), diag.Permanent, diag.ExNoUser
			e.SetFix(diag.Steps(diag.Command("addgroup", "--system", g)).OrElse(diag.Steps(diag.Set(e.Setting, diag.TOMLString("")))))
			return nil, e
		}
		u.GID, _ = strconv.Atoi(grp.Gid)
	}
	return u, nil
}

// ForRoot is the mail user when this process runs as root, so that what
// it creates can be given to that user, and nil otherwise: an ordinary
// user's files are its own.
func ForRoot(cfg *config.Config) (*User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return Lookup(cfg)
}

// Identity is the user as diag names it.
func (u *User) Identity() *diag.Identity {
	return &diag.Identity{UID: u.UID, User: u.Name, GID: u.GID, Group: diag.GroupName(u.GID)}
}

// Owns reports whether fi (from os.Stat or os.Lstat) belongs to the user
// and its group.
func (u *User) Owns(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == u.UID && int(st.Gid) == u.GID
}

// CanWrite reports whether the user can create files in the directory fi
// describes (write and search permission), by its mode bits.
func (u *User) CanWrite(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	perm := fi.Mode().Perm()
	switch {
	case u.UID == 0:
		return true
	case int(st.Uid) == u.UID:
		return perm&0o300 == 0o300
	case int(st.Gid) == u.GID:
		return perm&0o030 == 0o030
	}
	return perm&0o003 == 0o003
}

// Give makes the user the owner of each path that exists and is not
// already the user's (the link itself, never what a symlink points to).
// Only for ebb's own files, by name: never a directory the system shares.
// The error is an *fs.PathError naming the path.
func (u *User) Give(paths ...string) error {
	if u == nil {
		return nil
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && u.Owns(fi) {
			continue
		}
		if err == nil {
			err = os.Lchown(p, u.UID, u.GID)
		}
		if err != nil {
			return &fs.PathError{Op: "chown", Path: p, Err: diag.UnwrapPath(err)}
		}
	}
	return nil
}

// MkdirAll creates dir and its missing parents with mode perm, each new
// one given to the user, so that the mail user can reach what root makes
// below a directory that did not exist yet. It returns the path that
// failed with the error.
func (u *User) MkdirAll(dir string, perm fs.FileMode) (string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return d, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return d, err
		}
		if err := u.Give(d); err != nil {
			return d, err
		}
	}
	return "", nil
}

// Become makes this process the user: its group alone, then the group
// id, then the user id (Go applies them to every thread). Root stays
// root when the user is root.
func (u *User) Become() error {
	if u.UID == 0 {
		return nil
	}
	if err := syscall.Setgroups([]int{u.GID}); err != nil {
		return fmt.Errorf("setgroups(%d): %w", u.GID, err)
	}
	if err := syscall.Setgid(u.GID); err != nil {
		return fmt.Errorf("setgid(%d): %w", u.GID, err)
	}
	if err := syscall.Setuid(u.UID); err != nil {
		return fmt.Errorf("setuid(%d): %w", u.UID, err)
	}
	return nil
}
