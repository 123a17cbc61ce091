package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ebbmail/ebb/internal/diag"
	"github.com/ebbmail/ebb/internal/sieve"
	"github.com/ebbmail/ebb/internal/sievefilter"
)

// sieveChecks are the checks of Sieve at delivery (issue 6): the state
// directories vacation and duplicate write into, and the global scripts
// every delivery runs.
func sieveChecks() []Check {
	return []Check{
		{Name: "sieve.state", Run: checkSieveState},
		{Name: "sieve.scripts", Run: checkSieveScripts},
	}
}

// checkSieveState probes the directories where vacation and duplicate keep
// their records, as server.user. They are created at first use, so a
// missing one is probed through its nearest existing parent.
func checkSieveState(ctx context.Context, env *Env) []Finding {
	const name = "sieve.state"
	if !env.Cfg.Sieve.Enabled {
		return []Finding{Passed(name, "", "sieve.enabled = false")}
	}
	var out []Finding
	for _, key := range []string{"sieve.vacation_dir", "sieve.duplicate_dir"} {
		tmpl := env.Cfg.Sieve.VacationStateDir
		if key == "sieve.duplicate_dir" {
			tmpl = env.Cfg.Sieve.DuplicateDir
		}
		dir := filepath.Clean(strings.ReplaceAll(tmpl, "{data_dir}", env.Cfg.Server.DataDir))
		e, probe := env.Probe.DirToBe(ctx, dir, env.Cfg.Setting(key))
		note := "write, fsync, rename, remove"
		if probe != dir {
			note = "missing; created at first use under " + probe + ", which allows write, fsync, rename, remove"
		}
		if e != nil {
			e.Reason += fmt.Sprintf(" (%s needs %s)", key, dir)
			out = append(out, Failed(name, e))
			continue
		}
		out = append(out, Passed(name, dir, note+" as "+env.Probe.Who()))
	}
	return out
}

// checkSieveScripts compiles the global before/after scripts: one that is
// missing or broken is skipped at every delivery (the message is kept), so
// it is a failure here rather than a surprise later.
func checkSieveScripts(ctx context.Context, env *Env) []Finding {
	const name = "sieve.scripts"
	cfg := env.Cfg
	if !cfg.Sieve.Enabled {
		return []Finding{Passed(name, "", "sieve.enabled = false")}
	}
	opts, err := sievefilter.CompileOptions(cfg, sievefilter.Dirs{Global: cfg.Sieve.GlobalDir})
	if err != nil {
		e := diag.New("check", "use the Sieve extensions", "", err)
		e.Setting = cfg.Setting("sieve.extensions")
		return []Finding{Failed(name, e)}
	}
	var out []Finding
	for _, s := range append(append([]struct{ key, path string }{}, scripts("sieve.before", cfg.Sieve.Before)...), scripts("sieve.after", cfg.Sieve.After)...) {
		src, err := os.ReadFile(s.path)
		if err != nil {
			e := diag.PathError("ebb doctor", "read", "read the global Sieve script", s.path, err, cfg.Setting(s.key))
			if errors.Is(err, os.ErrNotExist) {
				e.Hint = fmt.Sprintf("create %s or remove it from %s", s.path, s.key)
			}
			out = append(out, Failed(name, e))
			continue
		}
		if _, err := sieve.Compile(s.path, src, opts); err != nil {
			first, _, _ := strings.Cut(err.Error(), "\n") // the first problem; ebb sieve check lists all
			e := diag.New("compile", "compile the global Sieve script", s.path, errors.New(first))
			e.Setting = cfg.Setting(s.key)
			e.SetFix(diag.Steps(diag.Command("ebb", "sieve", "check", s.path), diag.Say("correct what it names")))
			out = append(out, Failed(name, e))
			continue
		}
		out = append(out, Passed(name, s.path, "compiles ("+s.key+")"))
	}
	if len(out) == 0 {
		out = append(out, Passed(name, "", "no global scripts (sieve.before, sieve.after)"))
	}
	return out
}

func scripts(key string, paths []string) []struct{ key, path string } {
	var out []struct{ key, path string }
	for _, p := range paths {
		out = append(out, struct{ key, path string }{key, p})
	}
	return out
}
