// Command testreport reads `go test -json` on stdin and prints what a
// person reading the test command's log needs: each package's result line,
// the whole output of every failed test and of every package that failed
// outside a test (a panic, a build error), then where the time went — the
// slowest tests and packages. test/run-all.sh pipes its go test through it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Elapsed    float64
	Output     string
}

type key struct{ pkg, test string }

func main() {
	top := flag.Int("top", 25, "how many of the slowest tests to list")
	flag.Parse()
	report(os.Stdin, os.Stdout, *top)
}

func report(in io.Reader, out io.Writer, top int) {
	outputs := map[key][]string{}
	type timed struct {
		key
		elapsed float64
		result  string
	}
	var tests, pkgs []timed
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, sc.Text()) // not an event: go test's own words
			continue
		}
		if e.Action == "build-output" {
			fmt.Fprint(out, e.Output)
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			outputs[k] = append(outputs[k], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				pkgs = append(pkgs, timed{k, e.Elapsed, e.Action})
				if e.Action == "fail" {
					// A package that failed outside any test (a panic,
					// a timeout, TestMain): all it printed.
					fmt.Fprint(out, strings.Join(outputs[k], ""))
				} else {
					fmt.Fprint(out, last(outputs[k]))
				}
				delete(outputs, k)
				continue
			}
			if e.Action == "fail" {
				fmt.Fprint(out, strings.Join(outputs[k], ""))
			}
			if !strings.Contains(e.Test, "/") {
				tests = append(tests, timed{k, e.Elapsed, e.Action})
			}
			delete(outputs, k)
		}
	}
	sort.Slice(tests, func(i, j int) bool { return tests[i].elapsed > tests[j].elapsed })
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].elapsed > pkgs[j].elapsed })
	fmt.Fprintf(out, "== the %d slowest tests (of %d)\n", min(top, len(tests)), len(tests))
	for _, t := range tests[:min(top, len(tests))] {
		fmt.Fprintf(out, "%8s  %-4s %s %s\n", dur(t.elapsed), t.result, short(t.pkg), t.test)
	}
	fmt.Fprintln(out, "== the slowest packages")
	for _, p := range pkgs[:min(15, len(pkgs))] {
		fmt.Fprintf(out, "%8s  %-4s %s\n", dur(p.elapsed), p.result, short(p.pkg))
	}
}

// last is a package's result line ("ok  \tpkg\t1.2s"), the last it printed.
func last(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			return lines[i]
		}
	}
	return ""
}

func dur(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
}

func short(pkg string) string { return strings.TrimPrefix(pkg, "github.com/ebbmail/ebb/") }
