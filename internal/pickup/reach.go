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
