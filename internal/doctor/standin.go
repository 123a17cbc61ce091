package doctor

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
)

// StandIn is the account the probes run as when server.user does not exist
// (principle 6: a failure must not hide the next ones). ebb doctor as root
// then says that the mail user is missing and still runs every probe, as
// nobody: an unprivileged account, so that a path the mail user could not
// use either shows up at once, each result marked as the stand-in's.
func StandIn(missing string) *ProbeUser {
	u := &ProbeUser{Name: "nobody", UID: 65534, GID: 65534, StandInFor: missing}
	if nb, err := user.Lookup("nobody"); err == nil {
		u.UID, _ = strconv.Atoi(nb.Uid)
		u.GID, _ = strconv.Atoi(nb.Gid)
	}
	return u
}

// standInNote is what marks a result found by the stand-in.
func (u *ProbeUser) standInNote() string {
	return fmt.Sprintf("as %s, since %s is missing", u.Name, u.StandInFor)
}

// markStandIn marks every finding but server.user's own with the stand-in
// note, so that no result reads as the mail user's.
func markStandIn(env *Env, fs []Finding) {
	if env.Probe == nil || env.Probe.As == nil || env.Probe.As.StandInFor == "" {
		return
	}
	u := env.Probe.As
	note := u.standInNote()
	for i := range fs {
		if fs[i].Check == "server.user" {
			continue
		}
		if e := fs[i].Err; e != nil && e.Found != nil && e.Found.UID == 0 &&
			(strings.HasPrefix(e.Hint, "ask an administrator") || strings.Contains(e.Hint, "chown "+u.Name)) &&
			!diag.IsSystemPath(e.Found.Path) && !diag.IsSecretPath(e.Found.Path, e.Setting) && e.Setting != nil {
			// A directory of ebb's own that root made: the mail user's
			// fix, for when it exists (never "chown nobody").
			e.Hint = fmt.Sprintf("once %s exists (see server.user): chown %s: %s", u.StandInFor, u.StandInFor, e.Found.Path)
			fs[i].Message = e.Sentence()
		}
		fs[i].Message += " [" + note + "]"
	}
}
