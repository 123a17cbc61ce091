// Command gen writes the Sieve differential corpus (test/testdata/sieve/<case>/)
// from the tables in cases_*.go and records, for each case, the normalised
// action list Pigeonhole's sieve-test produces ("expected").
//
// Run it as root from the repository root (sieve-test refuses root, so it is
// run as the unprivileged test user, which must exist):
//
//	go run ./test/testdata/sieve/gen            # write cases and record expectations
//	go run ./test/testdata/sieve/gen -only core-  # only cases whose name starts so
//
// Every case says what it pins down (args: description) and whether
// Pigeonhole must refuse to compile it; the generator stops when Pigeonhole's
// verdict contradicts that, so a typo cannot silently become a "compile
// error" expectation.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ebbmail/ebb/test/harness"
)

// Case is one corpus entry as authored.
type Case struct {
	Name   string
	Desc   string
	Script string
	Msg    string // a key of messages, or the literal message when it contains a newline
	From   string // envelope sender; default alice@example.org
	To     string // envelope recipient; default bob@example.com
	Ext    string // sieve-test -x
	Opts   []string
	Ebb    []string
	// Replace applies to Pigeonhole's copy of the script only.
	Replace [][2]string
	Folders []string
	// Personal and Global are include scripts by name (without .sieve).
	Personal, Global map[string]string
	// Want is the class Pigeonhole must produce: "" (actions),
	// "compile" (compile error) or "runtime" (runtime error, implicit keep).
	Want string
}

var cases []Case

func add(cs ...Case) { cases = append(cases, cs...) }

func main() {
	root := flag.String("root", "test/testdata/sieve", "corpus directory")
	only := flag.String("only", "", "only cases whose name has this prefix")
	flag.Parse()

	u, err := harness.LookupUser(harness.TestUser)
	if err != nil {
		fatal("user %s: %v (run any Sieve integration test once as root to create it)", harness.TestUser, err)
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			fatal("duplicate case name %s", c.Name)
		}
		names[c.Name] = true
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })

	work, err := os.MkdirTemp("/var/tmp", "ebb-sieve-gen-")
	if err != nil {
		fatal("%v", err)
	}
	os.Chmod(work, 0o755)
	defer os.RemoveAll(work)

	if *only == "" {
		// Drop case directories no longer in the tables.
		ents, _ := os.ReadDir(*root)
		for _, e := range ents {
			if _, err := os.Stat(filepath.Join(*root, e.Name(), "args")); err == nil && !names[e.Name()] {
				os.RemoveAll(filepath.Join(*root, e.Name()))
			}
		}
	}

	var mu sync.Mutex
	var bad []string
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, c := range cases {
		if !strings.HasPrefix(c.Name, *only) {
			continue
		}
		dir := filepath.Join(*root, c.Name)
		if err := write(c, dir); err != nil {
			fatal("%s: %v", c.Name, err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(c Case, dir string) {
			defer wg.Done()
			defer func() { <-sem }()
			sc, err := harness.LoadSieveCase(dir)
			if err != nil {
				fatal("%s: %v", c.Name, err)
			}
			r, err := harness.RunPigeonhole(sc, filepath.Join(work, c.Name), u)
			if err != nil {
				fatal("%s: %v", c.Name, err)
			}
			got := "actions"
			if len(r.Normalised) > 0 && strings.HasPrefix(r.Normalised[0], "compile error") {
				got = "compile"
			} else if len(r.Normalised) > 0 && r.Normalised[0] == "runtime error" {
				got = "runtime"
			}
			want := c.Want
			if want == "" {
				want = "actions"
			}
			mu.Lock()
			defer mu.Unlock()
			if got != want {
				bad = append(bad, fmt.Sprintf("%s: want %s, Pigeonhole gave %s\n%s%s", c.Name, want, got, r.Stdout, r.Stderr))
			}
			exp := strings.Join(r.Normalised, "\n")
			if exp != "" {
				exp += "\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "expected"), []byte(exp), 0o644); err != nil {
				fatal("%v", err)
			}
		}(c, dir)
	}
	wg.Wait()
	if len(bad) > 0 {
		sort.Strings(bad)
		fatal("%d cases contradict their intent:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	fmt.Printf("wrote %d cases under %s\n", len(cases), *root)
}

func write(c Case, dir string) error {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	msg := c.Msg
	if msg == "" {
		msg = "plain"
	}
	if !strings.Contains(msg, "\n") {
		m, ok := messages[msg]
		if !ok {
			return fmt.Errorf("no message %q", msg)
		}
		msg = m
	}
	if c.Desc == "" {
		return fmt.Errorf("no description")
	}
	from, to := c.From, c.To
	if from == "" {
		from = "alice@example.org"
	}
	if to == "" {
		to = "bob@example.com"
	}
	var a strings.Builder
	fmt.Fprintf(&a, "description: %s\nfrom: %s\nto: %s\n", c.Desc, from, to)
	if c.Ext != "" {
		fmt.Fprintf(&a, "pigeonhole-ext: %s\n", c.Ext)
	}
	for _, o := range c.Opts {
		fmt.Fprintf(&a, "pigeonhole-option: %s\n", o)
	}
	for _, e := range c.Ebb {
		fmt.Fprintf(&a, "ebb-arg: %s\n", e)
	}
	for _, r := range c.Replace {
		fmt.Fprintf(&a, "pigeonhole-replace: %s => %s\n", r[0], r[1])
	}
	if len(c.Folders) > 0 {
		fmt.Fprintf(&a, "folders: %s\n", strings.Join(c.Folders, " "))
	}
	files := map[string]string{
		"script.sieve": strings.TrimLeft(c.Script, "\n"),
		"msg.eml":      strings.TrimLeft(msg, "\n"),
		"args":         a.String(),
	}
	for name, src := range c.Personal {
		files[filepath.Join("personal", name+".sieve")] = strings.TrimLeft(src, "\n")
	}
	for name, src := range c.Global {
		files[filepath.Join("global", name+".sieve")] = strings.TrimLeft(src, "\n")
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gen: "+format+"\n", args...)
	os.Exit(1)
}
