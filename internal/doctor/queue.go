package doctor

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ebbmail/ebb/internal/diag"
)

func queueChecks() []Check {
	return []Check{{Name: "queue.sync", Run: checkQueueSync}}
}

// checkQueueSync warns when queue.sync = "filesystem" runs on a kernel that
// does not report write errors from syncfs(2): before Linux 5.8 a failed
// write-back would go unnoticed and a 250 could be sent for a message that
// is not on disk (principle 3).
func checkQueueSync(ctx context.Context, env *Env) []Finding {
	if env.Cfg.Queue.Sync != "filesystem" {
		return []Finding{Passed("queue.sync", env.Cfg.Queue.Sync, "fsync of each file and of the spool directory")}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil
	}
	release := unix.ByteSliceToString(u.Release[:])
	if kernelAtLeast(release, 5, 8) {
		return []Finding{Passed("queue.sync", "filesystem", "syncfs(2) reports write errors on Linux "+release)}
	}
	e := diag.New("sync", "rely on syncfs(2) for", env.Cfg.Queue.Spool,
		//lint:ignore ST1005 Linux is a name; the reason is a sentence of the diag error, not wrapped
		fmt.Errorf("Linux %s does not report write errors from syncfs(2) (5.8 and later do)", release))
	e.Component = "ebb doctor"
	e.Setting = env.Cfg.Setting("queue.sync")
	e.SetFix(diag.Because("fsync of each file reports every error", diag.SetString(e.Setting, "files"), diag.Restart(e.Setting)))
	return []Finding{Warned("queue.sync", e)}
}

// kernelAtLeast compares the leading "major.minor" of a kernel release.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}
