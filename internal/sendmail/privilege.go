package sendmail

import (
	"errors"
	"os"
)

// ErrConfigNeedsRoot refuses -C to a caller who is not root when this
// process runs with more privilege than its caller (installed setuid or
// setgid): a config file names paths that would then be read with
// privileges the caller does not have. Sendmail 8 drops its privileges for
// -C (and for -D, -O QueueDirectory) in the same situation.
var ErrConfigNeedsRoot = errors.New("-C is refused: this sendmail runs with privileges its caller does not have (setuid or setgid), so only root may name another config file; ask an administrator, or run ebb directly (ebb sendmail -C FILE) without the extra privileges")

// Credentials are the real and effective ids of a process.
type Credentials struct{ UID, EUID, GID, EGID int }

// ProcessCredentials are this process's.
func ProcessCredentials() Credentials {
	return Credentials{UID: os.Getuid(), EUID: os.Geteuid(), GID: os.Getgid(), EGID: os.Getegid()}
}

// CheckConfigOption returns ErrConfigNeedsRoot for -C FILE when c is a
// privileged process run by someone other than root. ebb as shipped has no
// setuid or setgid bit (docs/sendmail.md): then -C reads the file with the
// caller's own rights, and a file the caller may not read is refused by
// the kernel, with a hint that does not suggest taking it over.
func CheckConfigOption(o *Options, c Credentials) error {
	if o.Config == "" || c.UID == 0 {
		return nil
	}
	if c.EUID != c.UID || c.EGID != c.GID {
		return ErrConfigNeedsRoot
	}
	return nil
}
