package pickup

import (
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/ebbmail/ebb/internal/diag"
)

// Every user must reach the pickup directory (ebb sendmail runs as whoever
// calls it), so every directory above it must let others pass (o+x). A
// parent made for the mail user alone (install -d -m 0750, as doctor's fix
// for mail.root and server.data_dir makes /srv/ebb when the spool is moved
// there too) closes it to everyone but that user, however right the pickup
// directory itself is.

// ClosedParent is the first directory above dir that others may not pass
// through, nil when there is none (or it cannot be examined).
func ClosedParent(dir string) *diag.Found {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	for _, d := range diag.Parents(abs) {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) != nil {
			return nil
		}
		if st.Mode&0o001 == 0 {
			return diag.Describe(d)
		}
	}
	return nil
}

// ParentFix opens the closed parent f of dir for passing only (o+x: no
// listing, no reading) when it is a directory of the mail user's, made for
// ebb; a directory the system shares or someone else's is not changed, and
// sendmail.pickup_dir is pointed elsewhere instead.
func ParentFix(f *diag.Found, dir string, mail *diag.Identity, setting *diag.Setting) *diag.Fix {
	why := fmt.Sprintf("every user must reach %s to send mail with sendmail, but %s is %s:%s %s", dir, f.Path, f.Owner, f.Group, f.ModeString())
	if mail != nil && f.UID == mail.UID && !diag.IsSystemPath(f.Path) {
		return diag.Because(why+", which others cannot pass through",
			diag.Command("chmod", "o+x", f.Path)).
			OrElse(diag.Steps(diag.Say(fmt.Sprintf("set %s to a directory whose parents every user may pass through, e.g. beside /var/spool", setting.Key))))
	}
	return diag.Because(why, diag.Say(fmt.Sprintf("set %s to a directory whose parents every user may pass through, e.g. beside /var/spool", setting.Key)), diag.Restart(setting))
}

// MaxSocketPath is the longest path of a Unix socket Linux takes
// (sun_path holds 108 bytes with the terminating NUL).
const MaxSocketPath = 107

// SocketTooLong is the error for a pickup socket whose path is longer
// than a Unix socket takes (bind says only "invalid argument"); nil when
// it fits. Without the socket ebb serve still picks up what sendmail
// leaves in the directory only if it can listen, so this is a failure.
func SocketTooLong(sock string, setting *diag.Setting) *diag.Error {
	if len(sock) <= MaxSocketPath {
		return nil
	}
	e := diag.New("listen", "make the socket for ebb sendmail", sock,
		fmt.Errorf("the path is %d bytes, and a Unix socket's path takes at most %d", len(sock), MaxSocketPath))
	e.Setting = setting
	e.Class = diag.Temporary
	e.SetFix(diag.Because("the socket is made in sendmail.pickup_dir unless sendmail.socket names another path",
		diag.Say("set sendmail.pickup_dir (or sendmail.socket) to a path of at most "+fmt.Sprint(MaxSocketPath)+" bytes with the socket's name"), diag.Restart(setting)))
	return e
}
