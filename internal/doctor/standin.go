package doctor

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/mailuser"
)

// ProberFor is who ebb doctor's probes run as: this process; run as root,
// server.user (doctor re-executes itself as that user), or the stand-in
// (nobody, StandIn) when that user does not exist.
func ProberFor(cfg *config.Config) *Prober {
	p := &Prober{}
	if u, err := mailuser.ForRoot(cfg); err != nil {
		p.As = StandIn(cfg.Server.User)
	} else if u != nil && u.UID != 0 {
		p.As = &ProbeUser{Name: cfg.Server.User, UID: u.UID, GID: u.GID}
	}
	return p
}

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
		if e := fs[i].Err; e != nil && e.Fix != nil && e.Fix.Why == "" &&
			(strings.Contains(e.Hint, "chown "+u.StandInFor+":") || strings.Contains(e.Hint, "-o "+u.StandInFor+" ")) {
			// The mail user's fix (diag names server.user, never the
			// stand-in): it can be followed once that user exists.
			f := *e.Fix
			f.Why = fmt.Sprintf("once %s exists (see server.user)", u.StandInFor)
			e.SetFix(&f)
			fs[i].Message = e.Sentence()
		}
		fs[i].Message += " [" + note + "]"
	}
}
