// Package doctor checks the obvious before mail arrives (principle 5): every
// path or service a component needs is probed for real, as the user that
// will use it, and every problem is reported with the same what/where/why/fix
// as a diag error.
//
// # Adding a check
//
// Each area keeps its checks in its own file, internal/doctor/<area>.go:
//
//	// queue.go
//	func queueChecks() []Check {
//		return []Check{{Name: "queue.spool", Run: checkSpool}}
//	}
//
//	func checkSpool(ctx context.Context, env *Env) []Finding {
//		dir := env.Cfg.Queue.Dir
//		if e := env.Probe.Dir(ctx, dir, env.Cfg.Setting("queue.dir")); e != nil {
//			return []Finding{Failed("queue.spool", e)}
//		}
//		return []Finding{Passed("queue.spool", dir, "writable by "+env.Probe.Who())}
//	}
//
// and adds ONE line, its function, to the areas list below. A check returns
// one or more findings: Passed (ok), Warned (works, but will hurt) or Failed
// (mail will not flow); warnings and failures carry a *diag.Error, so the
// sentence names the path, the errno, the uid, what was found there and the
// fix. A check must not change anything it does not clean up, and must
// finish quickly (use ctx for network checks).
//
// Probing as the right user: when ebb doctor runs as root, env.Probe runs
// the filesystem probes (create, write, fsync, rename, remove) in a child
// process — the ebb binary re-executed as `ebb doctor --probe` — with the
// uid/gid of server.user, because root ignores file modes and a probe as
// root would prove nothing. Run as another user, it probes as that user and
// says so.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/ebbmail/ebb/internal/config"
	"github.com/ebbmail/ebb/internal/diag"
)

// areas lists every area's checks, in the order they run. One line per area.
var areas = []func() []Check{
	mailChecks,
	directoryChecks,
	sieveChecks,
	submissionChecks,
	serveChecks,
	queueChecks,
	dovecotChecks,
	dkimChecks,
	scanChecks,
	fetchChecks,
	relayChecks,
	srsChecks,
	mtastsChecks,
	daneChecks,
	reportsChecks,
	journalChecks,
	acmeChecks,
	dnsRecordChecks,
	clusterChecks,
}

// Status is the verdict of one finding.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Finding is one result of a check.
type Finding struct {
	Check   string      `json:"check"`
	Status  Status      `json:"status"`
	Subject string      `json:"subject,omitempty"` // the path, address or service
	Message string      `json:"message"`
	Err     *diag.Error `json:"error,omitempty"`
}

// Passed is an ok finding.
func Passed(check, subject, message string) Finding {
	return Finding{Check: check, Status: OK, Subject: subject, Message: message}
}

// Warned is a warning with its diag error (Component "ebb doctor").
func Warned(check string, e *diag.Error) Finding {
	ownError(e)
	return Finding{Check: check, Status: Warn, Subject: e.Path, Message: e.Sentence(), Err: e}
}

// Failed is a failure with its diag error (Component "ebb doctor").
func Failed(check string, e *diag.Error) Finding {
	ownError(e)
	return Finding{Check: check, Status: Fail, Subject: e.Path, Message: e.Sentence(), Err: e}
}

// ownError makes e doctor's: its component, and no "or run: ebb doctor" in
// the hint (an error made by another part, e.g. a probe's, may carry one;
// doctor is what is running).
func ownError(e *diag.Error) {
	e.Component = "ebb doctor"
	if e.Fix != nil {
		if strings.HasPrefix(e.Fix.Check, "ebb doctor") {
			e.SetFix(e.Fix.WithoutCheck())
		}
		return
	}
	if i := strings.Index(e.Hint, "run: ebb doctor"); i >= 0 {
		e.Hint = strings.TrimRight(strings.TrimSuffix(strings.TrimRight(e.Hint[:i], " "), "or"), ", ")
	}
}

// Check is one named check.
type Check struct {
	Name string
	Run  func(ctx context.Context, env *Env) []Finding
}

// Env is what checks get.
type Env struct {
	Cfg   *config.Config
	Probe *Prober
	Log   *slog.Logger
}

// Checks returns every registered check.
func Checks() []Check {
	var cs []Check
	for _, area := range areas {
		cs = append(cs, area()...)
	}
	return cs
}

// Run runs checks in order and returns all findings.
func Run(ctx context.Context, env *Env, checks []Check) []Finding {
	var out []Finding
	for _, c := range checks {
		if ctx.Err() != nil {
			break
		}
		fs := c.Run(ctx, env)
		markStandIn(env, fs)
		out = append(out, fs...)
	}
	return out
}

// AnyFailed reports whether a finding failed: ebb doctor then exits 1.
func AnyFailed(fs []Finding) bool {
	for _, f := range fs {
		if f.Status == Fail {
			return true
		}
	}
	return false
}

// WriteText prints findings for people, one line each, and a summary.
func WriteText(w io.Writer, fs []Finding) {
	var warns, fails int
	for _, f := range fs {
		switch f.Status {
		case OK:
			fmt.Fprintf(w, "ok    %-16s %s: %s\n", f.Check, f.Subject, f.Message)
		case Warn:
			warns++
			fmt.Fprintf(w, "WARN  %-16s %s\n", f.Check, f.Message)
		case Fail:
			fails++
			fmt.Fprintf(w, "FAIL  %-16s %s\n", f.Check, f.Message)
		}
	}
	fmt.Fprintf(w, "%s: %d failed, %s\n", diag.Count(len(fs), "finding"), fails, diag.Count(warns, "warning"))
}

// WriteJSON prints findings as one JSON document.
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Failed   bool      `json:"failed"`
		Findings []Finding `json:"findings"`
	}{AnyFailed(fs), fs})
}
