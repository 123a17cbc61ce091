package diag

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A fix hint must be safe to follow (principle 2): it never widens access
// to a path that the system shares (/var/mail, /var/lib, /tmp, /etc …),
// to one that holds secrets (a config file with credentials, the directory
// database, keys), or to one that belongs to another user. For those it
// names the setting to point elsewhere, a dedicated directory to create, or
// the account to run as. Only a path that a setting chose for ebb, owned by
// root or by the caller, may be given to the caller — and only when the
// caller is a system account (the mail user), never an ordinary login.

// systemTrees are directories whose whole subtree belongs to the system.
var systemTrees = []string{"/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/boot", "/dev", "/proc", "/sys", "/root", "/snap"}

// systemDirs are shared directories themselves (a directory of ebb's own
// below them, such as /var/mail/vhosts or /var/lib/ebb, is not shared).
var systemDirs = []string{"/", "/tmp", "/var", "/var/tmp", "/var/mail", "/var/spool", "/var/spool/mail",
	"/var/lib", "/var/log", "/var/run", "/var/cache", "/var/local", "/var/opt", "/var/backups", "/var/lock",
	"/run", "/run/lock", "/home", "/opt", "/srv", "/mnt", "/media", "/usr/local", "/dev/shm"}

// IsSystemPath reports whether p is shared by the system: never to be
// chowned or chmodded for ebb.
func IsSystemPath(p string) bool {
	p = filepath.Clean(p)
	for _, d := range systemDirs {
		if p == d {
			return true
		}
	}
	for _, t := range systemTrees {
		if p == t || strings.HasPrefix(p, t+"/") {
			return true
		}
	}
	return false
}

// IsSecretPath reports whether p (chosen by setting, which may be nil)
// holds secrets: a config file, the directory database, keys, passwords.
func IsSecretPath(p string, setting *Setting) bool {
	base := strings.ToLower(filepath.Base(p))
	for _, suffix := range []string{".toml", ".conf", ".cf", ".key", ".pem", ".p12", ".db", ".sqlite", ".sqlite3", "-wal", "-shm"} {
		if strings.HasSuffix(base, suffix) {
			return true
		}
	}
	for _, word := range []string{"shadow", "secret", "passw", "credential", "sudoers", "token", "private"} {
		if strings.Contains(base, word) {
			return true
		}
	}
	if setting != nil {
		k := strings.ToLower(setting.Key)
		for _, word := range []string{"key", "secret", "passw", "credential", "token", "directory.", "dsn", "-c"} {
			if strings.Contains(k, word) {
				return true
			}
		}
	}
	return false
}

// runsAsMailUser reports whether component runs as the mail user by design
// (ebb serve after dropping root, the queue and delivery inside it, ebb
// deliver as the MTA's delivery user, doctor's probes): its identity is the
// one a root-made directory of ebb's should be given to, whatever its uid.
// The admin commands and sendmail run as whoever calls them.
func runsAsMailUser(component string) bool {
	for _, c := range []string{"ebb serve", "ebb deliver", "ebb-deliver", "ebb doctor", "ebb queue", "ebb relay", "sieve", "scan"} {
		if component == c {
			return true
		}
	}
	return false
}

// isSystemAccount: a uid below 1000 (Debian's SYS_UID_MAX is 999), as a
// mail user made with useradd --system is.
func isSystemAccount(uid int) bool { return uid > 0 && uid < 1000 }

// DoctorHint is the "run: ebb doctor" that ends a hint, naming the config
// file when it is not the default one (the demo's -c ebb-demo/ebb.toml).
// Inside doctor's own output it is "": doctor is what is running.
func DoctorHint(component string, setting *Setting) string {
	if strings.Contains(component, "doctor") {
		return ""
	}
	if setting != nil && setting.Config != "" {
		return "ebb doctor -c " + setting.Config
	}
	return "ebb doctor"
}

// OrRunDoctor returns h followed by ", or run: ebb doctor" (DoctorHint: with
// -c FILE for a config file that is not the default one, nothing inside
// doctor's own output).
func (e *Error) OrRunDoctor(h string) string {
	d := DoctorHint(e.Component, e.Setting)
	switch {
	case d == "":
		return h
	case h == "":
		return "run: " + d
	}
	return h + ", or run: " + d
}

// accessHint is the fix for EACCES/EPERM at path.
func accessHint(e *Error, path string) string {
	f, who := e.Found, e.Who
	target := path
	if f != nil && f.Kind != "missing" {
		target = f.Path
	}
	owner := nameOr(who.User, who.UID)
	group := nameOr(who.Group, who.GID)
	setting := e.Setting
	ownedByOther := f != nil && f.Kind != "missing" && f.UID != who.UID && f.UID != 0
	secret := func() string {
		run := "as the mail user (server.user)"
		if ownedByOther {
			run = "as " + nameOr(f.Owner, f.UID) + ", its owner"
		}
		return fmt.Sprintf("%s holds secrets: do not widen its access; ask an administrator, or run the command %s", target, run)
	}
	switch {
	case IsSecretPath(target, nil) || IsSecretPath(path, nil):
		return secret()
	case IsSystemPath(target):
		if setting == nil || setting.Key == "" {
			return fmt.Sprintf("%s is shared by the system: do not chown or chmod it; use a path of your own", target)
		}
		// The directory is for the mail user: name it when that is who
		// runs; an ordinary login or root gets the setting's placeholder.
		if !isSystemAccount(who.UID) {
			owner, group = "<server.user>", "<server.user>"
		}
		return fmt.Sprintf("%s is shared by the system: do not chown or chmod it; give ebb a directory of its own and point %s at it: install -d -o %s -g %s -m 0750 %s",
			target, setting.Key, owner, group, dedicatedDir(target, path, setting))
	case IsSecretPath(target, setting):
		return secret()
	case ownedByOther:
		h := fmt.Sprintf("%s belongs to %s: do not take it over; run as %s", target, nameOr(f.Owner, f.UID), nameOr(f.Owner, f.UID))
		if setting != nil && setting.Key != "" && !strings.HasPrefix(setting.Key, "-") {
			h += fmt.Sprintf(", or point %s at a directory of %s's own", setting.Key, owner)
		}
		return h
	case f != nil && f.Kind != "missing" && f.UID == who.UID:
		return e.OrRunDoctor(fmt.Sprintf("chmod u+rwx %s", target))
	case who.UID == 0:
		// Root refused: a read-only mount, an ACL, an immutable flag.
		return e.OrRunDoctor(fmt.Sprintf("check the mount, ACLs and attributes of %s (lsattr, getfacl)", target))
	case setting != nil && setting.Key != "" && (isSystemAccount(who.UID) || runsAsMailUser(e.Component)):
		// Root-owned, chosen by a setting, and we are the mail user:
		// the directory was made by root for us (the usual slip).
		return e.OrRunDoctor(fmt.Sprintf("chown %s:%s %s", owner, group, target))
	}
	return fmt.Sprintf("ask an administrator, or run as the mail user (server.user); %s is not %s's to change", target, owner)
}

// dedicatedDir proposes ebb's own directory for a setting that led to the
// system path target: the setting's own value when it lies below target
// (create it), else a directory below target.
func dedicatedDir(target, path string, setting *Setting) string {
	v := filepath.Clean(setting.Value)
	if setting.Value != "" && filepath.IsAbs(v) && !IsSystemPath(v) && strings.HasPrefix(v, filepath.Clean(target)+"/") {
		return v
	}
	if filepath.Clean(target) == "/var/mail" {
		return "/var/mail/vhosts"
	}
	return filepath.Join(target, "ebb")
}
