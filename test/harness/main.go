package harness

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// integrationParallel is how many integration tests marked t.Parallel run at
// once in each package. They spend their time waiting on daemons, Dovecot,
// PostgreSQL and the clock rather than on a CPU, so more of them than
// GOMAXPROCS (go test's default) keep a 2-core machine busy. -parallel on
// the command line wins.
const integrationParallel = 6

// Main is the TestMain of every integration test package under test/. It
// gives -short its documented meaning (docs/development.md): unit tests
// only. Every test there drives the built binary and real programs as root,
// so under -short none runs: the package reports "no tests to run" (not a
// pass of tests that did not run), with the reason.
func Main(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("integration test; run test/run-all.sh (skipped under -short)")
		flag.Set("test.run", "^$")
	}
	parallelGiven := false
	flag.Visit(func(f *flag.Flag) { parallelGiven = parallelGiven || f.Name == "test.parallel" })
	if !parallelGiven {
		flag.Set("test.parallel", fmt.Sprint(integrationParallel))
	}
	os.Exit(m.Run())
}
