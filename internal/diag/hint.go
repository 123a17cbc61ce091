package diag

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"os"
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
// A PEM file that holds certificates only (a CA file, a certificate
// chain) is public, and no secret — when this process can read it to
// tell; one it cannot read is taken for a secret.
func IsSecretPath(p string, setting *Setting) bool {
	base := strings.ToLower(filepath.Base(p))
	if (strings.HasSuffix(base, ".pem") || strings.HasSuffix(base, ".crt")) && IsPublicCertificate(p) &&
		!strings.Contains(base, "private") && !strings.Contains(base, "secret") {
		return false
	}
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

// maxCertificateFile bounds what IsPublicCertificate reads (a bundle of
// every public CA is about 200 KiB).
const maxCertificateFile = 4 << 20

// IsPublicCertificate reports whether p is a file of PEM certificates and
// nothing else: at least one CERTIFICATE block, every block a
// certificate (no PRIVATE KEY, no other data), and the text around them
// (openssl's "subject=" lines) naming no key. Anything else, or a file
// this process cannot read, is not known to be public.
func IsPublicCertificate(p string) bool {
	fh, err := os.Open(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxCertificateFile {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxCertificateFile+1))
	if err != nil {
		return false
	}
	n := 0
	for {
		var blk *pem.Block
		blk, rest := pem.Decode(b)
		if blk == nil {
			return n > 0 && len(bytes.TrimSpace(rest)) == 0
		}
		if blk.Type != "CERTIFICATE" && blk.Type != "TRUSTED CERTIFICATE" {
			return false
		}
		// Text before the block (openssl's "subject=" lines) is allowed
		// only if it names no key.
		if i := bytes.Index(b, []byte("-----BEGIN")); i > 0 && bytes.Contains(bytes.ToUpper(b[:i]), []byte("KEY")) {
			return false
		}
		n++
		b = rest
	}
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

// DoctorHint is the "ebb doctor" a fix ends with (Fix.Check), naming the
// config file when it is not the default one (the demo's -c
// ebb-demo/ebb.toml). Inside doctor's own output it is "": doctor is what
// is running.
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
// doctor's own output). Deprecated: a fix made by fix.go's constructors
// ends with AndCheck(DoctorHint(...)) instead.
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

// mailUser is the user who must reach the path: the setting's (server.user),
// else the one refused when it is the mail user by design or a system
// account. nil when an ordinary login met the failure and no setting names
// the mail user.
func mailUser(e *Error) *Identity {
	who := e.Who
	if s := e.Setting; s != nil && s.User != "" {
		return s.MailUser()
	}
	if who != nil && (isSystemAccount(who.UID) || runsAsMailUser(e.Component)) {
		return who
	}
	return nil
}

// MailUser is the identity of the user who must reach the path (User,
// with Group or the user's primary group). When the user does not exist
// (yet) the names are all a fix needs; doctor says to create the user.
func (s *Setting) MailUser() *Identity {
	id := LookupUser(s.User)
	if id == nil {
		id = &Identity{UID: -1, User: s.User, GID: -1, Group: s.User}
	}
	if s.Group != "" {
		id.Group = s.Group
		if gid := groupID(s.Group); gid >= 0 {
			id.GID = gid
		}
	}
	return id
}

// accessFix is the fix for EACCES/EPERM at path.
func accessFix(e *Error, path string) *Fix {
	f, who := e.Found, e.Who
	target := path
	if f != nil && f.Kind != "missing" {
		target = f.Path
	}
	self := nameOr(who.User, who.UID)
	setting := e.Setting
	mail := mailUser(e)
	ownedByOther := f != nil && f.Kind != "missing" && f.UID != who.UID && f.UID != 0
	doctor := DoctorHint(e.Component, setting)
	secret := func() *Fix {
		run := "run the command as the mail user (server.user)"
		if ownedByOther {
			run = "run the command as " + nameOr(f.Owner, f.UID) + ", its owner"
		}
		return Because(target+" holds secrets, so its access is not widened", Say("ask an administrator, or "+run))
	}
	switch {
	case (IsSecretPath(target, nil) || IsSecretPath(path, nil)) && !IsSystemPath(target) && f != nil && f.Kind != "missing" &&
		f.UID == 0 && setting != nil && setting.Key != "" && !strings.HasPrefix(setting.Key, "-") &&
		setting.User != "" && who.User == setting.User:
		// A secret of ebb's own (the directory database, a key a setting
		// names) that root made, and the mail user must read it: it goes
		// to that user alone (Chown closes it to others).
		return Chown(target, mail, setting).AndCheck(doctor)
	case IsSecretPath(target, nil) || IsSecretPath(path, nil):
		return secret()
	case IsSystemPath(target):
		if setting == nil || setting.Key == "" || strings.HasPrefix(setting.Key, "-") {
			return Because(target+" is shared by the system, never to be given to ebb", Say("use a path of your own"))
		}
		if mail == nil {
			return Because(target+" is shared by the system, never to be given to ebb",
				Say(fmt.Sprintf("ask an administrator to give ebb a directory of its own for %s", setting.Key)))
		}
		return OwnDirectory(target, mail, setting)
	case IsSecretPath(target, setting):
		return secret()
	case ownedByOther && mail != nil && f.UID == mail.UID:
		// The mail user's own path, as it should be: someone else ran the
		// command (an ordinary login running ebb doctor or ebb user list).
		// Nothing is to be changed, nor moved.
		owner := nameOr(f.Owner, f.UID)
		return Because(fmt.Sprintf("%s belongs to %s, the mail user (server.user), as it should; %s may not use it", target, owner, self),
			Say("run the command as root or as "+owner))
	case ownedByOther:
		owner := nameOr(f.Owner, f.UID)
		fx := Because(fmt.Sprintf("%s belongs to %s, so it is not taken over", target, owner), Say("run as "+owner))
		if setting != nil && setting.Key != "" && !strings.HasPrefix(setting.Key, "-") {
			mine := self
			if mail != nil {
				mine = mail.User
			}
			fx.OrElse(Steps(Say(fmt.Sprintf("point %s at a directory of %s's own", setting.Key, mine))))
		}
		return fx
	case f != nil && f.Kind != "missing" && f.UID == who.UID:
		return Steps(Command("chmod", "u+rwx", target)).AndCheck(doctor)
	case f != nil && f.Kind == "file" && !f.ReadableBy(who) && IsPublicCertificate(target):
		// Certificates only (a CA file): public, safe for anyone to read.
		return Because(target+" holds certificates only, which are public", Command("chmod", "a+r", target)).AndCheck(doctor)
	case who.UID == 0:
		// Root refused: a read-only mount, an ACL, an immutable flag.
		return Because("root was refused", Say(fmt.Sprintf("check the mount, ACLs and attributes of %s (lsattr -d, getfacl)", target))).AndCheck(doctor)
	case setting != nil && setting.Key != "" && mail != nil && (mail.User == who.User || runsAsMailUser(e.Component)):
		// Root-owned, chosen by a setting, and the mail user was refused:
		// the directory was made by root for it (the usual slip).
		return Chown(target, mail, setting).AndCheck(doctor)
	}
	return Because(fmt.Sprintf("%s is not %s's to change", target, self), Say("ask an administrator, or run as the mail user (server.user)"))
}
