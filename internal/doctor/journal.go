package doctor

import (
	"context"
	"fmt"
	"path/filepath"
)

// journalChecks: the journal ebb explain reads and the queue-tide page's
// history (issue 15), both written by the daemon as server.user.
func journalChecks() []Check {
	return []Check{{Name: "journal.dir", Run: checkJournalDir}}
}

// checkJournalDir probes journal.dir (or journal/ in server.data_dir) as
// server.user; a missing one is probed through its nearest existing
// parent, where the daemon creates it at start. The page's history
// (tide.jsonl) lives in server.data_dir itself, which mail checks probe.
func checkJournalDir(ctx context.Context, env *Env) []Finding {
	const name = "journal.dir"
	if !env.Cfg.Journal.Enabled {
		return []Finding{Passed(name, "", "journal.enabled = false: ebb explain knows no message")}
	}
	dir := env.Cfg.JournalDir()
	e, probe := env.Probe.DirToBe(ctx, dir, env.Cfg.Setting("journal.dir"))
	note := "write, fsync, rename, remove"
	if probe != filepath.Clean(dir) {
		note = "missing; created at start under " + probe + ", which allows write, fsync, rename, remove"
	}
	if e != nil {
		e.Reason += fmt.Sprintf(" (the journal needs %s)", dir)
		return []Finding{Failed(name, e)}
	}
	return []Finding{Passed(name, dir, note+" as "+env.Probe.Who())}
}
