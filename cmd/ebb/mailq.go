package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/pickup"
	"github.com/ebbmail/ebb/internal/queue"
	"github.com/ebbmail/ebb/internal/scan"
)

// queueArgs are the options of mailq and `ebb queue`: -c FILE and --json
// anywhere among the arguments, the rest are queue ids.
type queueArgs struct {
	config string
	json   bool
	ids    []string
	domain string // ebb queue flush --domain
}

func parseQueueArgs(e *env, args []string) (queueArgs, bool) {
	var a queueArgs
	for i := 0; i < len(args); i++ {
		switch arg := args[i]; {
		case arg == "-c" || arg == "--config":
			if i+1 >= len(args) {
				fmt.Fprintln(e.stderr, "ebb: -c needs a file")
				return a, false
			}
			i++
			a.config = args[i]
		case strings.HasPrefix(arg, "-c="), strings.HasPrefix(arg, "--config="):
			a.config = arg[strings.Index(arg, "=")+1:]
		case arg == "--domain" && i+1 < len(args):
			i++
			a.domain = args[i]
		case strings.HasPrefix(arg, "--domain="):
			a.domain = strings.TrimPrefix(arg, "--domain=")
		case arg == "--json" || arg == "-json":
			a.json = true
		case arg == "-v":
			// sendmail's mailq -v: our listing is always complete.
		case strings.HasPrefix(arg, "-"):
			fmt.Fprintf(e.stderr, "ebb: unknown option %q\n", arg)
			return a, false
		default:
			a.ids = append(a.ids, strings.ToUpper(arg))
		}
	}
	return a, true
}

// runMailq lists the queue (ebb mailq, mailq, ebb queue list). It reads the
// spool files, so it works whether the daemon runs or not.
func runMailq(e *env) int {
	a, ok := parseQueueArgs(e, e.args)
	if !ok {
		fmt.Fprintln(e.stderr, "usage: ebb mailq [-c FILE] [--json]")
		return diag.ExUsage
	}
	cfg, err := loadConfig(e, a.config)
	if err != nil {
		return diag.ExConfig
	}
	l, err := queue.List(cfg.Queue.Spool)
	if err != nil {
		// The spool is closed to ordinary users (it is server.user's, 0700):
		// ask the running daemon instead, as sendmail -bp does.
		if errors.Is(err, fs.ErrPermission) && !a.json {
			if perr := pickup.Mailq(e.ctx, cfg.PickupDir(), cfg.Sendmail.Socket, e.stdout, 30*time.Second); perr == nil {
				return 0
			}
		}
		return fail(e, err, "ebb mailq")
	}
	sum := queue.Summarize(l)
	if a.json {
		out := struct {
			*queue.Listing
			Summary queue.Summary `json:"summary"`
		}{l, sum}
		if out.Messages == nil {
			out.Messages = []*queue.Message{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	queue.WriteListing(e.stdout, l, sum, time.Now())
	scan.WriteBreakerNotes(e.stdout, filepath.Join(cfg.Server.DataDir, scan.BreakerFile), time.Now()) // a scanner the daemon is not asking
	return 0
}

func addr(a string) string { return "<" + a + ">" }

func nextAttempt(next, now time.Time, held bool) string { return queue.NextAttempt(next, now, held) }

// fail prints err as one diag sentence and returns its exit code.
func fail(e *env, err error, component string) int {
	d := diag.From(err, component, "")
	fmt.Fprintln(e.stderr, d.Sentence())
	return d.ExitCode()
}
